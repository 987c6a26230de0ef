/**
 * The profile actor's experiment memberships (model/experiment-attribution.ts):
 * the `experiment_memberships` table and its in-memory copy, so a merge call
 * reads a person's variant without touching storage and an ingested batch is
 * attributed against memory. Writes happen inside the caller's transaction,
 * with the change records that carry them to the warehouse.
 */
import type { ChangeRecord } from "../model/changes";
import { MERGED_REVISION, type Membership, membershipsBeyondCap } from "../model/experiment-attribution";
import { insertRows } from "./sql-rows";

const COLUMNS = [
  "experiment_id",
  "variant",
  "exposed_at",
  "conversion_event",
  "window_ms",
  "opened_at",
  "clicked_at",
  "converted_at",
  "conversion_message_id",
  "revenue",
  "revision",
] as const;

const UPSERT = ` ON CONFLICT (experiment_id) DO UPDATE SET variant = excluded.variant, exposed_at = excluded.exposed_at,
  opened_at = excluded.opened_at, clicked_at = excluded.clicked_at, converted_at = excluded.converted_at,
  conversion_message_id = excluded.conversion_message_id, revenue = excluded.revenue, revision = excluded.revision`;

interface MembershipRow extends Record<string, SqlStorageValue> {
  experiment_id: string;
  variant: string;
  exposed_at: number;
  conversion_event: string;
  window_ms: number;
  opened_at: number | null;
  clicked_at: number | null;
  converted_at: number | null;
  conversion_message_id: string | null;
  revenue: number;
  revision: number;
}

function rowOf(m: Membership): SqlStorageValue[] {
  return [
    m.experimentId,
    m.variant,
    m.exposedAt,
    m.conversionEvent,
    m.windowMs,
    m.openedAt,
    m.clickedAt,
    m.convertedAt,
    m.conversionMessageId,
    m.revenue,
    m.revision,
  ];
}

/** The change record that carries a membership to the warehouse under `profileId`. */
export function membershipRecord(
  profileId: string,
  m: Membership,
  now: number,
  merged: { into: string } | null = null,
): ChangeRecord {
  return {
    kind: "experiment",
    profileId,
    version: merged ? MERGED_REVISION : m.revision,
    at: now,
    membership: {
      experimentId: m.experimentId,
      variant: m.variant,
      exposedAt: m.exposedAt,
      openedAt: m.openedAt,
      clickedAt: m.clickedAt,
      convertedAt: m.convertedAt,
      conversionMessageId: m.conversionMessageId,
      revenue: m.revenue,
    },
    mergedInto: merged?.into ?? null,
  };
}

export class ExperimentMemberships {
  private readonly byExperiment = new Map<string, Membership>();

  load(sql: SqlStorage) {
    this.byExperiment.clear();
    for (const r of sql.exec<MembershipRow>(`SELECT ${COLUMNS.join(", ")} FROM experiment_memberships`)) {
      this.byExperiment.set(r.experiment_id, {
        experimentId: r.experiment_id,
        variant: r.variant,
        exposedAt: r.exposed_at,
        conversionEvent: r.conversion_event,
        windowMs: r.window_ms,
        openedAt: r.opened_at,
        clickedAt: r.clicked_at,
        convertedAt: r.converted_at,
        conversionMessageId: r.conversion_message_id,
        revenue: r.revenue,
        revision: r.revision,
      });
    }
  }

  clear() {
    this.byExperiment.clear();
  }

  get current(): ReadonlyMap<string, Membership> {
    return this.byExperiment;
  }

  all(): Membership[] {
    return [...this.byExperiment.values()];
  }

  /**
   * Writes changed memberships and forgets the oldest beyond the cap; call
   * inside the caller's transaction, then `commit` the same list.
   */
  persist(sql: SqlStorage, changed: readonly Membership[]): string[] {
    insertRows(sql, "experiment_memberships", COLUMNS, changed.map(rowOf), { conflict: UPSERT });
    const after = new Map(this.byExperiment);
    for (const m of changed) after.set(m.experimentId, m);
    const forget = membershipsBeyondCap(after);
    for (const id of forget) sql.exec("DELETE FROM experiment_memberships WHERE experiment_id = ?", id);
    return forget;
  }

  commit(changed: readonly Membership[], forgotten: readonly string[]) {
    for (const m of changed) this.byExperiment.set(m.experimentId, m);
    for (const id of forgotten) this.byExperiment.delete(id);
  }
}
