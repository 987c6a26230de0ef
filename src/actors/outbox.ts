/**
 * The profile actor's transactional outbox (DESIGN §3). Change records are
 * appended inside the ingest transaction; `flushOutbox`, run by the actor's
 * alarm, sends them through the Queue in packed batches and marks them sent;
 * the consumer confirms each message once it is applied, and only then are
 * its rows deleted. A record sent but not confirmed within the redelivery
 * interval is sent again, so nothing is lost even where the Queue itself is
 * not durable (a local `wrangler dev` killed mid-stream); the consumer's
 * writes are idempotent, so a resend is applied once.
 */
import { asc, between, eq, gt, isNull, lte, or, sql } from "drizzle-orm";
import type { DrizzleSqliteDODatabase } from "drizzle-orm/durable-sqlite";
import { type ChangeRecord, type OutboxRow, packOutbox, QUEUE_LIMITS } from "../model/changes";
import { utf8Bytes } from "../model/validate";
import { outbox } from "./schema";

/** Where packed runs go: the change Queue itself, or a sink buffer that bundles them (SinkBuffer). */
export interface ChangeSender {
  sendBatch(messages: readonly { body: string; contentType: "text" }[]): Promise<unknown>;
}

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
  /** Sent and awaiting the consumer's confirmation. */
  unconfirmed: number;
}

export function outboxDepth(db: DrizzleSqliteDODatabase): OutboxDepth {
  const row = db
    .select({
      pending: sql<number>`count(*)`,
      oldestAt: sql<number | null>`min(${outbox.createdAt})`,
      unconfirmed: sql<number>`count(${outbox.sentAt})`,
    })
    .from(outbox)
    .get();
  return { pending: row?.pending ?? 0, oldestAt: row?.oldestAt ?? null, unconfirmed: row?.unconfirmed ?? 0 };
}

export interface FlushResult {
  sent: number;
  /** When the alarm should run again: now if unsent rows remain, later to resend unconfirmed ones, or never. */
  nextAt: number | null;
}

/** Rows to send now: never sent, or sent at or before `resendBefore` and still unconfirmed. */
const due = (resendBefore: number) => or(isNull(outbox.sentAt), lte(outbox.sentAt, resendBefore));

/** Bytes of records one flush round holds in memory, however many rows that is. */
const BYTES_PER_ROUND = 1024 * 1024;

/**
 * Runs of due rows with no other row between them: a message covers one
 * run's `[firstSeq, lastSeq]`, so confirming it can never delete a row that
 * was not in it (one sent earlier and still unconfirmed, say).
 */
function dueRuns(rows: readonly { seq: number; bytes: number; isDue: number; record: string | null }[]): OutboxRow[][] {
  const runs: OutboxRow[][] = [];
  let run: OutboxRow[] = [];
  for (const r of rows) {
    if (r.isDue && r.record !== null) {
      run.push({ seq: r.seq, record: r.record, bytes: r.bytes });
    } else if (run.length > 0) {
      runs.push(run);
      run = [];
    }
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

/**
 * Sends due records in seq order and marks them sent. A `sendBatch` that
 * rejects stops the flush with its rows unmarked, and the error propagates.
 */
export async function flushOutbox(
  db: DrizzleSqliteDODatabase,
  queue: ChangeSender,
  actor: string,
  redeliverMs: number,
  now = Date.now(),
): Promise<FlushResult> {
  let sent = 0;
  const resendBefore = now - redeliverMs;
  let after = 0;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    // Every row in order (records only for the due ones), up to a byte budget.
    const rows = db
      .select({
        seq: outbox.seq,
        bytes: outbox.bytes,
        isDue: sql<number>`(${due(resendBefore)})`,
        record: sql<string | null>`CASE WHEN ${due(resendBefore)} THEN ${outbox.record} END`,
      })
      .from(outbox)
      .where(gt(outbox.seq, after))
      .orderBy(asc(outbox.seq))
      .limit(ROWS_PER_ROUND)
      .all();
    if (rows.length === 0) break;
    let budget = BYTES_PER_ROUND;
    const taken = [];
    for (const r of rows) {
      if (r.isDue && taken.length > 0 && budget - r.bytes < 0) break;
      taken.push(r);
      if (r.isDue) budget -= r.bytes;
    }
    after = taken.at(-1)?.seq ?? after;
    for (const run of dueRuns(taken)) {
      const oversized = run.filter((r) => r.bytes > QUEUE_LIMITS.messageBytes);
      for (const r of oversized) {
        // Cannot be the output of an accepted message (they are capped far below); never let one wedge the outbox.
        console.error(
          JSON.stringify({
            msg: "outbox record over the Queue's size limit dropped",
            actor,
            seq: r.seq,
            bytes: r.bytes,
          }),
        );
        db.delete(outbox).where(eq(outbox.seq, r.seq)).run();
      }
      for (const batch of packOutbox(
        actor,
        run.filter((r) => r.bytes <= QUEUE_LIMITS.messageBytes),
      )) {
        await queue.sendBatch(batch.map((m) => ({ body: m.body, contentType: "text" as const })));
        for (const m of batch) {
          db.update(outbox)
            .set({ sentAt: now })
            .where(between(outbox.seq, m.firstSeq, m.lastSeq))
            .run();
        }
        sent += batch.reduce((n, m) => n + m.count, 0);
      }
    }
    if (taken.length === rows.length && rows.length < ROWS_PER_ROUND) break;
    if (round === MAX_ROUNDS - 1) return { sent, nextAt: now };
  }
  const oldestSent = db
    .select({ at: sql<number | null>`min(${outbox.sentAt})` })
    .from(outbox)
    .get()?.at;
  return { sent, nextAt: oldestSent == null ? null : oldestSent + redeliverMs };
}

/** Deletes the rows of messages the consumer applied (each `[firstSeq, lastSeq]`). */
export function confirmOutbox(db: DrizzleSqliteDODatabase, ranges: readonly (readonly [number, number])[]): number {
  let deleted = 0;
  db.transaction((tx) => {
    for (const [first, last] of ranges) {
      deleted += tx
        .delete(outbox)
        .where(between(outbox.seq, first, last))
        .returning({ seq: outbox.seq })
        .all().length;
    }
  });
  return deleted;
}
