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
import { type ChangeRecord, type OutboxRow, packOutbox, QUEUE_LIMITS } from "../model/changes";
import { utf8Bytes } from "../model/validate";
import { insertRows } from "./sql-rows";

/** Where packed runs go: the change Queue itself, or a sink buffer that bundles them (SinkBuffer). */
export interface ChangeSender {
  sendBatch(messages: readonly { body: string; contentType: "text" }[]): Promise<unknown>;
}

/** Rows read per flush round; a round is at most a few `sendBatch` calls. */
const ROWS_PER_ROUND = 1_000;
/** Rounds per alarm run before handing the rest to the next alarm. */
const MAX_ROUNDS = 10;

/** Appends records to the outbox; call inside the transaction that makes the change. */
export function appendToOutbox(sql: SqlStorage, records: readonly ChangeRecord[], now: number): void {
  insertRows(
    sql,
    "outbox",
    ["record", "bytes", "created_at"],
    records.map((r) => {
      const record = JSON.stringify(r);
      return [record, utf8Bytes(record), now];
    }),
    // A record is at most about 100 KB (a profile's capped traits): 16 of them stay within a SQLite value's 2 MB.
    { rowsPerStatement: 16 },
  );
}

export interface OutboxDepth {
  pending: number;
  oldestAt: number | null;
  /** Sent and awaiting the consumer's confirmation. */
  unconfirmed: number;
}

export function outboxDepth(sql: SqlStorage): OutboxDepth {
  return sql
    .exec<{ pending: number; oldestAt: number | null; unconfirmed: number }>(
      "SELECT count(*) AS pending, min(created_at) AS oldestAt, count(sent_at) AS unconfirmed FROM outbox",
    )
    .one();
}

export interface FlushResult {
  sent: number;
  /** When the alarm should run again: now if unsent rows remain, later to resend unconfirmed ones, or never. */
  nextAt: number | null;
}

/**
 * Every row after `after` in order, up to a round; the record only for rows
 * due now: never sent, or sent at or before the resend cutoff and still
 * unconfirmed.
 */
const ROUND = `SELECT seq, bytes, (sent_at IS NULL OR sent_at <= ?) AS isDue,
  CASE WHEN sent_at IS NULL OR sent_at <= ? THEN record END AS record
  FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?`;
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
  sql: SqlStorage,
  queue: ChangeSender,
  actor: string,
  redeliverMs: number,
  now = Date.now(),
): Promise<FlushResult> {
  let sent = 0;
  const resendBefore = now - redeliverMs;
  // From just before the first due row: rows sent and awaiting confirmation before it need no look.
  const firstDue = sql
    .exec<{ seq: number | null }>(
      "SELECT min(seq) AS seq FROM outbox WHERE sent_at IS NULL OR sent_at <= ?",
      resendBefore,
    )
    .one().seq;
  let after = (firstDue ?? 1) - 1;
  for (let round = 0; round < MAX_ROUNDS && firstDue !== null; round++) {
    const rows = sql
      .exec<{ seq: number; bytes: number; isDue: number; record: string | null }>(
        ROUND,
        resendBefore,
        resendBefore,
        after,
        ROWS_PER_ROUND,
      )
      .toArray();
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
        sql.exec("DELETE FROM outbox WHERE seq = ?", r.seq);
      }
      for (const batch of packOutbox(
        actor,
        run.filter((r) => r.bytes <= QUEUE_LIMITS.messageBytes),
      )) {
        await queue.sendBatch(batch.map((m) => ({ body: m.body, contentType: "text" as const })));
        for (const m of batch) {
          sql.exec("UPDATE outbox SET sent_at = ? WHERE seq BETWEEN ? AND ?", now, m.firstSeq, m.lastSeq);
        }
        sent += batch.reduce((n, m) => n + m.count, 0);
      }
    }
    if (taken.length === rows.length && rows.length < ROWS_PER_ROUND) break;
    if (round === MAX_ROUNDS - 1) return { sent, nextAt: now };
  }
  const oldestSent = sql.exec<{ at: number | null }>("SELECT min(sent_at) AS at FROM outbox").one().at;
  return { sent, nextAt: oldestSent == null ? null : oldestSent + redeliverMs };
}

/**
 * Deletes the rows of messages the consumer applied (each `[firstSeq, lastSeq]`).
 * Each delete stands alone: one that did not run leaves rows that are sent
 * again and confirmed again.
 */
export function confirmOutbox(sql: SqlStorage, ranges: readonly (readonly [number, number])[]): number {
  let deleted = 0;
  for (const [first, last] of ranges) {
    deleted += sql.exec("DELETE FROM outbox WHERE seq BETWEEN ? AND ?", first, last).rowsWritten;
  }
  return deleted;
}
