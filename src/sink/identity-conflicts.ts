/**
 * The record of identity claims actors did not apply (`identity_conflicts`
 * in D1, listed by `GET /v1/identity/conflicts`). Anyone holding the public
 * browser key can produce such claims, so the record keeps to the
 * quarantine's bounds: at most `maxPerReason` rows per kind and nothing older
 * than the retention period, pruned in the same batch as each insert, what is
 * pruned counted in `sink_stats`.
 */
import { chunk, rowsPerStatement, type WarehouseDb } from "../catalog/store";
import type { IdentityConflict } from "../model/identity-claims";
import type { QuarantinePolicy } from "../model/quarantine-policy";
import { type BoundedTable, pruneStatements } from "./bounded-rows";
import { identityConflicts } from "./warehouse-schema";

export const IDENTITY_CONFLICT_COUNTERS = {
  evicted: "identity_conflicts_evicted",
  expired: "identity_conflicts_expired",
} as const;

const CONFLICTS: BoundedTable = {
  table: identityConflicts,
  id: identityConflicts.id,
  group: identityConflicts.kind,
  receivedAt: identityConflicts.receivedAt,
  counters: IDENTITY_CONFLICT_COUNTERS,
};

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
  const kinds = new Set(rows.map((r) => r.kind));
  await db.batch([first, ...rest, ...pruneStatements(db, CONFLICTS, kinds, rows.length, receivedAt, policy)]);
}
