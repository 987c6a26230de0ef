/**
 * Profile ids in Segment Profile API style (`<id_type>:<value>`):
 * `user_id:42`, `anonymous_id:abc`, `email:jane@example.com`; a bare id is a user id.
 */

export type ProfileRef =
  | { kind: "user"; value: string }
  | { kind: "anonymous"; value: string }
  | { kind: "email"; value: string };

export type ParsedProfileId = { ok: true; ref: ProfileRef } | { ok: false; reason: string };

const PREFIXES: Record<string, ProfileRef["kind"]> = {
  user_id: "user",
  anonymous_id: "anonymous",
  email: "email",
};

export function parseProfileId(input: string): ParsedProfileId {
  const raw = input.trim();
  const colon = raw.indexOf(":");
  const prefix = colon > 0 ? raw.slice(0, colon) : "";
  const kind = Object.hasOwn(PREFIXES, prefix) ? PREFIXES[prefix] : undefined;
  const value = (kind ? raw.slice(colon + 1) : raw).trim();
  if (!value)
    return { ok: false, reason: "profile id is empty; use user_id:<id>, anonymous_id:<id> or a bare user id" };
  if (value.length > 256) return { ok: false, reason: "profile id is longer than 256 characters" };
  return { ok: true, ref: { kind: kind ?? "user", value } };
}

/** The Durable Object name holding this person (DESIGN §3); an e-mail address is looked up in the directory. */
export function actorNameOf(ref: ProfileRef): string | null {
  if (ref.kind === "user") return `user:${ref.value}`;
  if (ref.kind === "anonymous") return `anon:${ref.value}`;
  return null;
}

const encoder = new TextEncoder();

/**
 * The identifier-directory entry for an e-mail address: `email:` and the
 * SHA-256 (hex) of the trimmed, lower-cased address, so the directory's names
 * hold no address in the clear.
 */
export async function emailDirectoryName(email: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(email.trim().toLowerCase()));
  return `email:${[...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** `user:42` → `user_id:42`, `anon:abc` → `anonymous_id:abc`: an actor's public profile id. */
export function publicProfileId(actorKey: string): string {
  return actorKey.startsWith("user:") ? `user_id:${actorKey.slice(5)}` : `anonymous_id:${actorKey.slice(5)}`;
}
