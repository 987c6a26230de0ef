/**
 * Keeping a D1 record bounded as rows go in: at most a cap of rows per group
 * (a quarantine reason code, a kind of identity conflict) and nothing older
 * than the retention period. The pruning statements join the insert's batch,
 * each bounded to a little more than was inserted so a request never waits
 * on a long delete; what they delete is counted in `sink_stats`.
 */
import { desc, eq, inArray, lt, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { SQLiteColumn, SQLiteTable } from "drizzle-orm/sqlite-core";
import type { WarehouseDb } from "../catalog/store";
import { pruneBound, type QuarantinePolicy, retentionCutoff } from "../model/quarantine-policy";
import { sinkStats } from "./warehouse-schema";

/** A bounded table: its id (ascending with age), the column it is capped by, and its arrival time. */
export interface BoundedTable {
  table: SQLiteTable;
  id: SQLiteColumn;
  group: SQLiteColumn;
  receivedAt: SQLiteColumn;
  /** `sink_stats` counters of the rows pruned. */
  counters: { evicted: string; expired: string };
}

/** Adds `changes()` of the statement just before it (same connection, same batch) to a counter. */
export function countChanges(db: WarehouseDb, name: string) {
  return db
    .insert(sinkStats)
    .values({ name, value: sql`changes()` })
    .onConflictDoUpdate({ target: sinkStats.name, set: { value: sql`${sinkStats.value} + excluded.value` } });
}

/**
 * Deletes rows past retention, then the oldest rows of each group beyond the
 * cap (so a row past both counts as expired). Retention walks the table's
 * arrival-time index from the oldest row, the cap its `(group, id)` index
 * from the newest.
 */
export function pruneStatements(
  db: WarehouseDb,
  target: BoundedTable,
  groups: ReadonlySet<string>,
  inserted: number,
  now: number,
  policy: QuarantinePolicy,
): BatchItem<"sqlite">[] {
  const { table, id, group, receivedAt, counters } = target;
  const bound = pruneBound(inserted);
  const expired = db
    .select({ id })
    .from(table)
    .where(lt(receivedAt, retentionCutoff(now, policy)))
    .orderBy(receivedAt)
    .limit(bound);
  const statements: BatchItem<"sqlite">[] = [
    db.delete(table).where(inArray(id, expired)),
    countChanges(db, counters.expired),
  ];
  for (const name of groups) {
    const beyondCap = db
      .select({ id })
      .from(table)
      .where(eq(group, name))
      .orderBy(desc(id))
      .limit(bound)
      .offset(policy.maxPerReason);
    statements.push(db.delete(table).where(inArray(id, beyondCap)), countChanges(db, counters.evicted));
  }
  return statements;
}
