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
import { CLAIMED_CHARS, type QuarantinePolicy } from "../model/quarantine-policy";
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

/** What was claimed, as sent when its JSON is short; else its head as text, marked cut. */
function boundedClaim(claimed: Record<string, unknown> | undefined): Record<string, unknown> | null {
  if (!claimed) return null;
  const text = JSON.stringify(claimed);
  return text.length <= CLAIMED_CHARS ? claimed : { truncated: true, head: text.slice(0, CLAIMED_CHARS) };
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
    claimed: boundedClaim(c.claimed),
  }));
  const [first, ...rest] = chunk(rows, rowsPerStatement(7)).map((part) => db.insert(identityConflicts).values(part));
  if (!first) return;
  const kinds = new Set(rows.map((r) => r.kind));
  await db.batch([first, ...rest, ...pruneStatements(db, CONFLICTS, kinds, rows.length, receivedAt, policy)]);
}
