/**
 * The per-minute history behind `GET /v1/metrics/series` (model/metric-series.ts),
 * in D1 `metric_minutes`: each isolate's metric flush adds its counter
 * deltas to the minute it flushes in, and the every-minute cron samples the
 * gauges and prunes what is older than a day. A count lands once, in the
 * minute its isolate flushed it: within `FLUSH_MS` while requests keep
 * coming, later when the isolate went quiet (its next request flushes it),
 * and never if the isolate was evicted first (see metrics-recorder.ts).
 */
import { sql } from "drizzle-orm";
import { isSeriesCounter, METRIC_MINUTES_KEPT, MINUTE_MS, type MinuteRow, minuteOf } from "../model/metric-series";
import type { CounterRow } from "../model/metrics";
import { prepare } from "../sink/warehouse-writer";

/** Adds the counters among `rows` to `minute`'s row of each series; null when none is kept by the minute. */
export function addToMinutes(rows: readonly CounterRow[], now: number) {
  const kept = rows.filter((r) => isSeriesCounter(r.name));
  if (kept.length === 0) return null;
  const json = JSON.stringify(kept.map((r) => [r.name, r.labels, r.value]));
  return sql`INSERT INTO metric_minutes (minute, name, labels, value)
    SELECT ${minuteOf(now)}, json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'), json_extract(j.value, '$[2]')
    FROM json_each(${json}) AS j WHERE true
    ON CONFLICT (minute, name, labels) DO UPDATE SET value = metric_minutes.value + excluded.value`;
}

/**
 * The gauges' values for this minute, read and written in one batch, and
 * minutes older than the history dropped: sink lag and the last batch's
 * age, dead letters, open quarantine by reason.
 */
export async function sampleGauges(d1: D1Database, now = Date.now()): Promise<void> {
  const minute = minuteOf(now);
  const lagSeconds = `(SELECT value / 1000.0 FROM sink_stats WHERE name = 'last_lag_ms')`;
  const batchAge = `(SELECT MAX(0, ${now} - value) / 1000.0 FROM sink_stats WHERE name = 'last_batch_at')`;
  await d1.batch([
    d1
      .prepare(
        `INSERT OR REPLACE INTO metric_minutes (minute, name, labels, value)
         SELECT ?1, 'sink_lag_seconds', '', ${lagSeconds} WHERE ${lagSeconds} IS NOT NULL
         UNION ALL SELECT ?1, 'sink_last_batch_age_seconds', '', ${batchAge} WHERE ${batchAge} IS NOT NULL
         UNION ALL SELECT ?1, 'sink_dead_letters', '', (SELECT COUNT(*) FROM dead_letters)
         UNION ALL SELECT ?1, 'quarantine_messages', '{reason="' || code || '"}', COUNT(*)
           FROM bad_events WHERE replayed_at IS NULL GROUP BY code`,
      )
      .bind(minute),
    d1.prepare("DELETE FROM metric_minutes WHERE minute < ?").bind(minute - METRIC_MINUTES_KEPT * MINUTE_MS),
  ]);
}

/** The stored rows from `from` to `to` (epoch ms, whole minutes), for `alignSeries`. */
export async function minuteRows(d1: D1Database, from: number, to: number): Promise<MinuteRow[]> {
  const { results } = await prepare(
    d1,
    sql`SELECT minute, name, labels, value FROM metric_minutes WHERE minute BETWEEN ${from} AND ${to}`,
  ).all<MinuteRow>();
  return results;
}
