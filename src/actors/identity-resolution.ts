/**
 * Identity resolution as a person's actor runs it for one ingested batch:
 * ask each visitor the batch newly links to this user to hand itself over
 * (an RPC to the visitor's actor), then join what they hand over, one
 * transaction each. The actor holds the state; the links and the storage side
 * of a merge are in identity-links.ts, the merge rules in model/identity.
 */
import type { Env } from "../env";
import { type IdentityClaim, identityClaims, MAX_MERGES } from "../model/identity";
import type { ProfileEvent } from "../model/messages";
import { CAPS, commitToMemory, type ProfileMemory } from "../model/profile";
import type { Settings } from "../model/settings";
import { type HandoverAnswer, profileActor, type RefusedLink } from "./client";
import { type IdentityLinks, persistMerge } from "./identity-links";
import type { Handover, ProfileDb } from "./profile-store";

/** The visitors asked, each with its answer, and the links refused without asking. */
export interface HandoverRound {
  answered: (readonly [IdentityClaim, HandoverAnswer])[];
  refusedLinks: RefusedLink[];
}

/**
 * Asks each visitor this batch newly links to the user (`actorKey`) to hand
 * itself over. A link is decided once: later events repeating it cost
 * nothing. Links past the merge cap are refused without asking. The
 * operator's merge (`operatorMerge`, its alias's messageId) is asked even
 * when that user was refused before, and counts against no cap.
 */
export async function askForHandovers(
  env: Env,
  links: IdentityLinks,
  actorKey: string,
  events: readonly ProfileEvent[],
  operatorMerge?: string,
): Promise<HandoverRound> {
  const own = new Set([actorKey.slice(5), ...links.mergedUserIds()]);
  const fresh = identityClaims(events, own).filter((c) => !links.has(c.id) || isOperatorRetry(links, c, operatorMerge));
  if (fresh.length === 0) return { answered: [], refusedLinks: [] };

  const operator = fresh.filter((c) => c.messageId === operatorMerge && c.via === "alias");
  const claims = fresh.filter((c) => !operator.includes(c));
  const room = links.reserve(claims.length);
  const refusedLinks = claims.slice(room).map((claim) => ({
    messageId: claim.messageId,
    reason: `${claim.id} was not merged: this profile already joined ${MAX_MERGES} anonymous ids, the most one profile takes`,
  }));
  const asked = [...operator, ...claims.slice(0, room)];
  try {
    const answered = await Promise.all(
      asked.map(async (claim) => [claim, await askHandover(env, actorKey, claim, operatorMerge)] as const),
    );
    return { answered, refusedLinks };
  } finally {
    links.release(room);
  }
}

/** The operator's alias of a user refused before (an alias from a write key): the operator decides again. */
export function isOperatorRetry(
  links: IdentityLinks,
  claim: IdentityClaim,
  operatorMerge: string | undefined,
): boolean {
  return operatorMerge !== undefined && claim.messageId === operatorMerge && links.isRefused(claim.id);
}

/** An alias's previousId may name a known user (never merged) or a visitor; an event's anonymousId is a visitor. */
async function askHandover(
  env: Env,
  actorKey: string,
  claim: IdentityClaim,
  operatorMerge?: string,
): Promise<HandoverAnswer> {
  if (claim.via === "alias") {
    const asUser = `user:${claim.id}`;
    // Only the operator's own alias message may hand over a known user.
    const answer = await profileActor(env, asUser).handOver(asUser, actorKey, claim.messageId === operatorMerge);
    if (answer.outcome !== "none") return answer;
  }
  const visitor = `anon:${claim.id}`;
  return profileActor(env, visitor).handOver(visitor, actorKey);
}

/**
 * Joins a visitor's handed-over state into the person and their `memory`;
 * returns whether there was any to join. Synchronous, so no other call
 * interleaves with the merge.
 */
export function mergeVisitor(
  db: ProfileDb,
  sql: SqlStorage,
  memory: ProfileMemory,
  links: IdentityLinks,
  merge: { actorKey: string; id: string; handover: Handover; settings: Settings; now: number; withTraits: boolean },
): boolean {
  const { actorKey, id, handover, settings, now, withTraits } = merge;
  const { profile } = handover;
  // A known user joined by an operator is remembered as a user, with the visitors it had joined.
  const record = () => {
    if (handover.mergedIds === undefined) links.recordMerged(db, id, now);
    else links.recordMergedUser(db, id, { visitors: handover.mergedIds, users: handover.mergedUserIds ?? [] }, now);
  };
  if (!profile) {
    // A visitor never seen before: it now forwards to this person, and there is nothing to take over.
    record();
    return false;
  }
  const changes = persistMerge(
    db,
    sql,
    memory,
    actorKey,
    { ...handover, profile },
    { settings, now, withTraits },
    record,
  );
  commitToMemory(memory, changes);
  memory.sessions = changes.sessionList.slice(-CAPS.memorySessions);
  return true;
}
