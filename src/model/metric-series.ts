/**
 * Metrics by the minute (`GET /v1/metrics/series`, the console's Overview
 * charts): counters as what was added within each minute, gauges as sampled
 * once a minute. Stored rows are sparse — a minute nobody counted in has no
 * row — and are answered aligned: one timeline, one value per minute per
 * series, 0 for a counter's quiet minute and null for a gauge never sampled.
 */
import { z } from "zod";
import type { Labels, MetricName } from "./metrics";

export const MINUTE_MS = 60_000;
/** How far back the history goes; older minutes are pruned. */
export const METRIC_MINUTES_KEPT = 24 * 60;

/** Counters whose per-minute deltas are kept (histograms are not: `/metrics` has them). */
export const SERIES_COUNTERS = [
  "events_accepted_total",
  "events_rejected_total",
  "events_flagged_total",
  "events_suppressed_total",
  "events_throttled_total",
  "requests_overloaded_total",
  "merge_calls_total",
] as const satisfies readonly MetricName[];

/** Gauges sampled each minute by the cron. */
const SERIES_GAUGES = [
  "sink_lag_seconds",
  "sink_last_batch_age_seconds",
  "sink_dead_letters",
  "quarantine_messages",
] as const satisfies readonly MetricName[];

export type SeriesMetric = (typeof SERIES_COUNTERS)[number] | (typeof SERIES_GAUGES)[number];
export const SERIES_METRICS: readonly SeriesMetric[] = [...SERIES_COUNTERS, ...SERIES_GAUGES];

const COUNTERS: ReadonlySet<string> = new Set(SERIES_COUNTERS);
const KEPT: ReadonlySet<string> = new Set(SERIES_METRICS);

export function isSeriesCounter(name: string): boolean {
  return COUNTERS.has(name);
}

export const minuteOf = (t: number): number => t - (t % MINUTE_MS);

/** A stored minute row. */
export interface MinuteRow {
  minute: number;
  name: string;
  labels: string;
  value: number;
}

export interface Series {
  metric: SeriesMetric;
  type: "counter" | "gauge";
  labels: Record<string, string>;
  /** One per minute of the timeline. */
  values: (number | null)[];
}

export interface AlignedSeries {
  /** Start of each minute, epoch seconds (what a chart's time axis takes). */
  minutes: number[];
  series: Series[];
}

/** `{a="x",b="y\"z"}` (the exposition's label text) back to `{ a: "x", b: 'y"z' }`. */
export function parseLabelText(text: string): Labels {
  const labels: Record<string, string> = {};
  const pattern = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (const m of text.matchAll(pattern)) {
    labels[m[1] as string] = (m[2] as string).replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
  }
  return labels;
}

/**
 * The stored rows laid on the timeline of whole minutes from `from` to `to`
 * (both included), one series per metric and label set, ordered by metric
 * as listed and then by labels.
 */
export function alignSeries(rows: readonly MinuteRow[], from: number, to: number): AlignedSeries {
  const first = minuteOf(from);
  const count = Math.max(0, Math.floor((minuteOf(to) - first) / MINUTE_MS) + 1);
  const minutes = Array.from({ length: count }, (_, i) => (first + i * MINUTE_MS) / 1000);
  const byKey = new Map<string, Series>();
  for (const row of rows) {
    const i = (row.minute - first) / MINUTE_MS;
    if (!Number.isInteger(i) || i < 0 || i >= count) continue;
    if (!KEPT.has(row.name)) continue;
    const key = `${row.name}${row.labels}`;
    let series = byKey.get(key);
    if (!series) {
      const type = isSeriesCounter(row.name) ? "counter" : "gauge";
      series = {
        metric: row.name as SeriesMetric,
        type,
        labels: parseLabelText(row.labels),
        values: Array.from({ length: count }, () => (type === "counter" ? 0 : null)),
      };
      byKey.set(key, series);
    }
    series.values[i] = row.value;
  }
  const order = (m: string) => SERIES_METRICS.indexOf(m as SeriesMetric);
  const series = [...byKey.entries()]
    .sort(([ka, a], [kb, b]) => order(a.metric) - order(b.metric) || ka.localeCompare(kb))
    .map(([, s]) => s);
  return { minutes, series };
}

/** `GET /v1/metrics/series`, as the route answers it. */
export const metricSeriesResponse = z.strictObject({
  stepSeconds: z.literal(60),
  minutes: z.array(z.number().int()).describe("Start of each minute, epoch seconds, oldest first"),
  series: z.array(
    z.strictObject({
      metric: z.enum(SERIES_METRICS as [SeriesMetric, ...SeriesMetric[]]),
      type: z.enum(["counter", "gauge"]).describe("counter: added within the minute; gauge: sampled in the minute"),
      labels: z.record(z.string(), z.string()),
      values: z.array(z.number().nullable()).describe("One per minute; null: a gauge not sampled in that minute"),
    }),
  ),
});
