/**
 * The record of identity claims actors did not apply (`identity_conflicts`
 * in D1, listed by `GET /v1/identity/conflicts`). Anyone holding the public
 * browser key can produce such claims, so the record keeps to the
 * quarantine's bounds: at most `maxPerReason` rows per kind and nothing older
 * than the retention period, pruned in the same batch as each insert, what is
 * pruned counted in `sink_stats`.
 */
import { desc, eq, inArray, lt, sql } from "drizzle-orm";
import { chunk, rowsPerStatement, type WarehouseDb } from "../catalog/store";
import type { IdentityConflict } from "../model/identity-claims";
import { pruneBound, type QuarantinePolicy, retentionCutoff } from "../model/quarantine-policy";
import { identityConflicts, sinkStats } from "./warehouse-schema";

export const IDENTITY_CONFLICT_COUNTERS = {
  evicted: "identity_conflicts_evicted",
  expired: "identity_conflicts_expired",
} as const;

/** Adds `changes()` of the statement just before it (same batch) to a counter. */
function countChanges(db: WarehouseDb, name: string) {
  return db
    .insert(sinkStats)
    .values({ name, value: sql`changes()` })
    .onConflictDoUpdate({ target: sinkStats.name, set: { value: sql`${sinkStats.value} + excluded.value` } });
}

/** Stores the conflicts and prunes beyond the cap and retention, in one atomic batch. */
export async function recordConflicts(
  db: WarehouseDb,
  conflicts: readonly IdentityConflict[],
  receivedAt: number,
  policy: QuarantinePolicy,
): Promise<void> {
  const rows = conflicts.map((c) => ({
    receivedAt,
    kind: c.kind,
    messageId: c.messageId,
    profileId: c.profileId,
    holderProfileId: c.holderProfileId ?? null,
    emailSha256: c.emailSha256 ?? null,
    claimed: c.claimed ?? null,
  }));
  const [first, ...rest] = chunk(rows, rowsPerStatement(7)).map((part) => db.insert(identityConflicts).values(part));
  if (!first) return;
  const bound = pruneBound(rows.length);
  const t = identityConflicts;
  const pruning = [...new Set(rows.map((r) => r.kind))].flatMap((kind) => [
    db
      .delete(t)
      .where(
        inArray(
          t.id,
          db
            .select({ id: t.id })
            .from(t)
            .where(eq(t.kind, kind))
            .orderBy(desc(t.id))
            .limit(bound)
            .offset(policy.maxPerReason),
        ),
      ),
    countChanges(db, IDENTITY_CONFLICT_COUNTERS.evicted),
  ]);
  const expired = db
    .select({ id: t.id })
    .from(t)
    .where(lt(t.receivedAt, retentionCutoff(receivedAt, policy)))
    .orderBy(t.receivedAt)
    .limit(bound);
  // Retention before the cap, so that a row past both is counted as expired.
  await db.batch([
    first,
    ...rest,
    db.delete(t).where(inArray(t.id, expired)),
    countChanges(db, IDENTITY_CONFLICT_COUNTERS.expired),
    ...pruning,
  ]);
}
