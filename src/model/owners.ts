/**
 * Whose a stored row or lake line is, read from its own structured fields —
 * never from a search of its text, where another person's order id, coupon
 * or trait can hold the same string. Erasure and export select on these
 * owners: a quarantined payload's `userId`, `anonymousId` and `traits.email`,
 * a dead-lettered change message's `records[].profileId` and outbox actor, a
 * lake line's `profileId`, `userId` and `anonymousId`.
 */

/** Ids as the ingest schema reads them: trimmed strings, or numbers turned into strings; an empty string is no id. */
function idOf(value: unknown): string | null {
  if (typeof value === "string") return value.trim() || null;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return null;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

export interface PayloadOwners {
  userId: string | null;
  anonymousId: string | null;
  /** `traits.email`, trimmed and lower-cased like the e-mail directory; null without one. */
  email: string | null;
}

/** The owners a quarantined payload names in its own fields; a payload that is not an object names none. */
export function payloadOwners(payload: unknown): PayloadOwners {
  if (!isObject(payload)) return { userId: null, anonymousId: null, email: null };
  const traits = payload.traits;
  const email = isObject(traits) && typeof traits.email === "string" ? traits.email.trim().toLowerCase() : "";
  return { userId: idOf(payload.userId), anonymousId: idOf(payload.anonymousId), email: email || null };
}

/** `user:42` → `user_id:42`, `anon:abc` → `anonymous_id:abc`; other actor names are no profile. */
function profileIdOfActor(actor: unknown): string | null {
  if (typeof actor !== "string") return null;
  if (actor.startsWith("user:") && actor.length > 5) return `user_id:${actor.slice(5)}`;
  if (actor.startsWith("anon:") && actor.length > 5) return `anonymous_id:${actor.slice(5)}`;
  return null;
}

/**
 * The public profile ids a dead-lettered change message belongs to: each
 * record's `profileId` and the outbox actor's own. Null when the body is not
 * a JSON object, so it names no one that can be read.
 */
export function deadLetterProfileIds(body: unknown): string[] | null {
  let value = body;
  if (typeof body === "string") {
    try {
      value = JSON.parse(body);
    } catch {
      return null;
    }
  }
  if (!isObject(value)) return null;
  const ids = new Set<string>();
  // A sink buffer's bundle holds several actors' runs: every one of them owns the row.
  const runs = Array.isArray(value.bundle) ? value.bundle : [value];
  for (const run of runs) {
    if (!isObject(run)) continue;
    if (Array.isArray(run.records)) {
      for (const r of run.records) if (isObject(r) && typeof r.profileId === "string") ids.add(r.profileId);
    }
    const actor = profileIdOfActor(run.actor);
    if (actor) ids.add(actor);
  }
  return [...ids];
}

/** The people an erasure or export is about, by the ids stores record owners with. */
export interface Owners {
  profileIds: readonly string[];
  userIds: readonly string[];
  anonymousIds: readonly string[];
}

/**
 * Whether a raw-lake NDJSON line (`lakeLine`) belongs to one of these
 * people: its `profileId`, `userId` or `anonymousId` field equals one of
 * theirs. A line that is not a JSON object belongs to no one here.
 */
export function lakeLineBelongsTo(line: string, owners: Owners): boolean {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return false;
  }
  if (!isObject(value)) return false;
  const { profileId, userId, anonymousId } = value;
  return (
    (typeof profileId === "string" && owners.profileIds.includes(profileId)) ||
    (typeof userId === "string" && owners.userIds.includes(userId)) ||
    (typeof anonymousId === "string" && owners.anonymousIds.includes(anonymousId))
  );
}
