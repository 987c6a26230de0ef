/**
 * Identity resolution on a person's actor: the ids linked to them and what
 * came of each (`identity_links`, mirrored in memory so a repeated link costs
 * nothing), and the storage side of merging a visitor in — one transaction
 * with its change records. The merge rules themselves are in model/identity.
 */
import { eq } from "drizzle-orm";
import { changeRecordsOf } from "../model/changes";
import { MAX_MERGES, type MergeChanges, mergePeople, type PersonState } from "../model/identity";
import type { ProfileMemory } from "../model/profile";
import { publicProfileId } from "../model/profile-id";
import type { Settings } from "../model/settings";
import { appendToOutbox } from "./outbox";
import {
  type Handover,
  insertRecentEvents,
  type ProfileDb,
  persistChanges,
  prune,
  storedSessions,
} from "./profile-store";
import * as schema from "./schema";

/** Refusals remembered per person (so repeats cost no RPC); beyond this the oldest are asked again. */
const REMEMBERED_REFUSALS = 500;

/** Why a visitor is not merged into a second user; it names nobody, since write keys are public. */
export const BELONGS_ELSEWHERE =
  "already merged into another known user; an anonymous visitor joins one user only — call analytics.reset() when a different person signs in on the same browser";

/** `reason` of a link that came with a user an operator merged in: the person's, but not their own merges. */
const INHERITED = "inherited from a user an operator merged in";

type Link = { status: "merged" | "merged_user" | "refused"; at: number; inherited?: boolean };

export class IdentityLinks {
  private links = new Map<string, Link>();
  /** Merges asked for and not yet answered, counted against the cap. */
  private inFlight = 0;

  load(db: ProfileDb) {
    this.links = new Map(
      db
        .select()
        .from(schema.identityLinks)
        .all()
        .map((l) => [l.id, { status: l.status, at: l.at, inherited: l.reason === INHERITED }]),
    );
  }

  clear() {
    this.links = new Map();
    this.inFlight = 0;
  }

  has(id: string): boolean {
    return this.links.has(id);
  }

  get anyRefused(): boolean {
    for (const l of this.links.values()) if (l.status === "refused") return true;
    return false;
  }

  isRefused(id: string): boolean {
    return this.links.get(id)?.status === "refused";
  }

  mergedIds(): string[] {
    return [...this.links].filter(([, l]) => l.status === "merged").map(([id]) => id);
  }

  /** Known users an operator merged into this person. */
  mergedUserIds(): string[] {
    return [...this.links].filter(([, l]) => l.status === "merged_user").map(([id]) => id);
  }

  /** Reserves up to `n` merges within the cap; returns how many were granted. Release them when answered. */
  reserve(n: number): number {
    let own = 0;
    for (const l of this.links.values()) if (l.status === "merged" && !l.inherited) own += 1;
    const granted = Math.max(0, Math.min(n, MAX_MERGES - own - this.inFlight));
    this.inFlight += granted;
    return granted;
  }

  release(n: number) {
    this.inFlight -= n;
  }

  /** Records a merge, inside the caller's transaction when it has one. */
  recordMerged(db: ProfileDb, id: string, now: number) {
    db.insert(schema.identityLinks).values({ id, status: "merged", reason: null, at: now }).run();
    this.links.set(id, { status: "merged", at: now });
  }

  /**
   * Records an operator's merge of a known user, with the visitors and users
   * it had joined (they are this person's now, also where this person had
   * refused them before), inside the caller's transaction. What comes with
   * the user counts against no cap of this person's own merges.
   */
  recordMergedUser(
    db: ProfileDb,
    userId: string,
    joined: { visitors: readonly string[]; users: readonly string[] },
    now: number,
  ) {
    const put = (id: string, status: "merged" | "merged_user", inherited: boolean) => {
      const reason = inherited ? INHERITED : null;
      db.insert(schema.identityLinks)
        .values({ id, status, reason, at: now })
        .onConflictDoUpdate({ target: schema.identityLinks.id, set: { status, reason, at: now } })
        .run();
      this.links.set(id, { status, at: now, inherited });
    };
    put(userId, "merged_user", false);
    for (const id of joined.users) if (this.links.get(id)?.status !== "merged_user") put(id, "merged_user", true);
    for (const id of joined.visitors) if (this.links.get(id)?.status !== "merged") put(id, "merged", true);
  }

  /** Records a refusal, forgetting the oldest beyond the cap. */
  recordRefused(db: ProfileDb, id: string, now: number) {
    const refused = [...this.links].filter(([, l]) => l.status === "refused");
    const oldest = refused.length >= REMEMBERED_REFUSALS ? refused.sort(([, a], [, b]) => a.at - b.at)[0] : undefined;
    db.transaction((tx) => {
      tx.insert(schema.identityLinks).values({ id, status: "refused", reason: BELONGS_ELSEWHERE, at: now }).run();
      if (oldest) tx.delete(schema.identityLinks).where(eq(schema.identityLinks.id, oldest[0])).run();
    });
    if (oldest) this.links.delete(oldest[0]);
    this.links.set(id, { status: "refused", at: now });
  }
}

/**
 * Joins a visitor's handed-over state into the person (`actorKey`): merged
 * rows, the visitor's recent events, the link and the change records, in one
 * transaction. The caller commits the returned changes to memory.
 */
export function persistMerge(
  db: ProfileDb,
  sql: SqlStorage,
  memory: ProfileMemory,
  actorKey: string,
  handover: Handover & { profile: NonNullable<Handover["profile"]> },
  options: { settings: Settings; now: number; withTraits: boolean },
  recordLink: () => void,
): MergeChanges {
  const { settings, now, withTraits } = options;
  const into: PersonState = { ...memory, sessions: memory.profile ? storedSessions(db) : [] };
  const from: PersonState = {
    profile: handover.profile,
    affinities: new Map(handover.affinities),
    products: new Map(handover.products.map((h) => [h.productId, h])),
    sessions: handover.sessions,
  };
  const changes = mergePeople(actorKey, into, from, settings, now, { withTraits });
  const records = changeRecordsOf(publicProfileId(actorKey), [], changes, now);
  // The same transaction holds drizzle's statements and the fixed-shape ones (both are this storage's).
  db.transaction(() => {
    sql.exec("DELETE FROM sessions");
    persistChanges(sql, changes);
    insertRecentEvents(sql, handover.recentEvents);
    recordLink();
    prune(sql, now);
    appendToOutbox(sql, records, now);
  });
  return changes;
}
