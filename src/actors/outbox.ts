/**
 * The profile actor's transactional outbox (DESIGN §3): change records are
 * appended inside the ingest transaction, and `flushOutbox` — run by the
 * actor's alarm — sends them through the Queue in packed batches, deleting
 * each run only after `sendBatch` resolved. A crash between the send and the
 * delete resends that run: the consumer's writes are idempotent, so the
 * warehouse sees it once.
 */
import { asc, lte, sql } from "drizzle-orm";
import type { DrizzleSqliteDODatabase } from "drizzle-orm/durable-sqlite";
import { type ChangeRecord, type OutboxRow, packOutbox, utf8Bytes } from "../model/changes";
import { outbox } from "./schema";

type Tx = Parameters<Parameters<DrizzleSqliteDODatabase["transaction"]>[0]>[0];

/** Rows per insert statement: 3 bound parameters each, 100 per statement. */
const ROWS_PER_INSERT = 33;
/** Rows read per flush round; a round is at most a few `sendBatch` calls. */
const ROWS_PER_ROUND = 1_000;
/** Rounds per alarm run before handing the rest to the next alarm. */
const MAX_ROUNDS = 10;

/** Appends records to the outbox; call inside the transaction that makes the change. */
export function appendToOutbox(tx: Tx, records: readonly ChangeRecord[], now: number): void {
  const rows = records.map((r) => {
    const record = JSON.stringify(r);
    return { record, bytes: utf8Bytes(record), createdAt: now };
  });
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
    tx.insert(outbox)
      .values(rows.slice(i, i + ROWS_PER_INSERT))
      .run();
  }
}

export interface OutboxDepth {
  pending: number;
  oldestAt: number | null;
}

export function outboxDepth(db: DrizzleSqliteDODatabase): OutboxDepth {
  const row = db
    .select({ pending: sql<number>`count(*)`, oldestAt: sql<number | null>`min(${outbox.createdAt})` })
    .from(outbox)
    .get();
  return { pending: row?.pending ?? 0, oldestAt: row?.oldestAt ?? null };
}

export interface FlushResult {
  sent: number;
  /** True when rows are left for another alarm. */
  remaining: boolean;
}

/**
 * Sends pending records in seq order. Each `sendBatch` that resolves is
 * followed by deleting exactly the rows it carried; a rejection stops the
 * flush with those rows still in place and propagates to the caller.
 */
export async function flushOutbox(
  db: DrizzleSqliteDODatabase,
  queue: Queue<string>,
  actor: string,
): Promise<FlushResult> {
  let sent = 0;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const rows: OutboxRow[] = db
      .select({ seq: outbox.seq, record: outbox.record, bytes: outbox.bytes })
      .from(outbox)
      .orderBy(asc(outbox.seq))
      .limit(ROWS_PER_ROUND)
      .all();
    if (rows.length === 0) return { sent, remaining: false };
    for (const batch of packOutbox(actor, rows)) {
      await queue.sendBatch(batch.map((m) => ({ body: m.body, contentType: "text" as const })));
      const lastSeq = batch.at(-1)?.lastSeq ?? 0;
      db.delete(outbox).where(lte(outbox.seq, lastSeq)).run();
      sent += batch.reduce((n, m) => n + m.count, 0);
    }
    if (rows.length < ROWS_PER_ROUND) return { sent, remaining: false };
  }
  return { sent, remaining: true };
}
