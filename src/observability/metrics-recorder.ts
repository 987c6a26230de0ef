/**
 * Counting in the Worker isolate, summing in D1: every isolate counts into
 * its own `MetricsTally` and adds it to `metric_counters` (and the counters'
 * per-minute history, `metric_minutes`) at most every `FLUSH_MS` (one batch,
 * after the request that found it due, in `waitUntil`), so `GET /metrics` shows the same global numbers whichever
 * isolate answers. A flush that fails puts its counts back for the next one.
 * What an isolate counted in the seconds before it is evicted is lost: the
 * counters are operational signals, not the record — the warehouse is.
 *
 * On Cloudflare the same path runs: each of N isolates adds one row-batch
 * every few seconds. For high-cardinality analysis (per write key, per
 * colo) Workers Analytics Engine is the platform's tool; it cannot be read
 * locally (its writes are no-ops in workerd), so these counters do not depend on it.
 */
import { sql } from "drizzle-orm";
import { type CounterRow, type Labels, type MetricName, MetricsTally } from "../model/metrics";
import { prepare } from "../sink/warehouse-writer";
import { addToMinutes } from "./metric-minutes";

export const FLUSH_MS = 5_000;
/** A tally with this many series flushes at once: it stays small however busy the isolate. */
const FLUSH_AT_SERIES = 500;

const tally = new MetricsTally();
let lastFlushAt = 0;

export function countMetric(name: MetricName, labels: Labels = {}, value = 1): void {
  if (value !== 0) tally.add(name, labels, value);
}

export function observeDuration(name: MetricName, labels: Labels, seconds: number): void {
  tally.observe(name, labels, seconds);
}

function addRows(rows: readonly CounterRow[]) {
  const json = JSON.stringify(rows.map((r) => [r.name, r.labels, r.value]));
  return sql`INSERT INTO metric_counters (name, labels, value)
    SELECT json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'), json_extract(j.value, '$[2]')
    FROM json_each(${json}) AS j WHERE true
    ON CONFLICT (name, labels) DO UPDATE SET value = metric_counters.value + excluded.value`;
}

/** Adds this isolate's counts to D1 now. */
export async function flushMetrics(d1: D1Database, now = Date.now()): Promise<void> {
  lastFlushAt = now;
  const rows = tally.drain();
  if (rows.length === 0) return;
  const minutes = addToMinutes(rows, now);
  try {
    // One batch, so the totals and the per-minute history never disagree.
    await d1.batch(minutes ? [prepare(d1, addRows(rows)), prepare(d1, minutes)] : [prepare(d1, addRows(rows))]);
  } catch (err) {
    tally.restore(rows);
    console.error(JSON.stringify({ msg: "metrics flush failed; kept for the next", error: String(err) }));
  }
}

/** Flushes in the background when the interval has passed or the tally grew large. */
export function maybeFlushMetrics(d1: D1Database, waitUntil: (p: Promise<unknown>) => void, now = Date.now()): void {
  if (tally.size === 0) return;
  if (now - lastFlushAt < FLUSH_MS && tally.size < FLUSH_AT_SERIES) return;
  lastFlushAt = now;
  waitUntil(flushMetrics(d1, now));
}
