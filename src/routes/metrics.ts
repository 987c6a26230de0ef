/**
 * `GET /metrics` (DESIGN §9): the Prometheus text exposition, for a scraper
 * holding one of `METRICS_KEYS` (Bearer) — a key of its own, so a monitoring
 * system can read pipeline health and nothing about people. Counters are the
 * global sums in D1 (observability/metrics-recorder.ts) and the sink's own
 * counters; gauges are read from D1 at scrape time, in one batch.
 *
 * `GET /v1/metrics/series` (secret API key, like every `/v1` read) is the
 * same metrics minute by minute over the last hours, for a chart — the
 * console's Overview draws it — where a Prometheus is not at hand.
 */
import { sql } from "drizzle-orm";
import { Hono } from "hono";
import { sinkBuffer } from "../actors/client";
import { SINK_BUFFER_SHARDS } from "../actors/sink-buffer";
import { alignSeries, METRIC_MINUTES_KEPT, MINUTE_MS, minuteOf } from "../model/metric-series";
import { type CounterRow, type GaugeSample, labelText, renderExposition } from "../model/metrics";
import { settingsOf } from "../model/settings";
import { minuteRows } from "../observability/metric-minutes";
import { flushMetrics } from "../observability/metrics-recorder";
import { prepare } from "../sink/warehouse-writer";
import type { AppEnv } from "./app-env";
import { bearerToken, keyMatches, requireApiKey } from "./auth";
import { ApiError } from "./errors";

export const metricsRoutes = new Hono<AppEnv>();

/** `sink_stats` rows that count rows written, by warehouse table. */
const SINK_TABLES = [
  "events",
  "profiles",
  "sessions",
  "affinities",
  "experiment_exposures",
  "audience_memberships",
  "audience_deliveries",
];

const STATUS_VALUE: Record<string, number> = { pass: 0, warn: 1, fail: 2 };

interface NameValue {
  name: string;
  value: number;
}

metricsRoutes.get("/metrics", async (c) => {
  const token = bearerToken(c.req.header("authorization"));
  if (!c.env.METRICS_KEYS) {
    throw new ApiError(401, "unauthorized", "no METRICS_KEYS are configured; set one and scrape with it as Bearer");
  }
  if (!token || !(await keyMatches(token, c.env.METRICS_KEYS))) {
    throw new ApiError(
      401,
      "unauthorized",
      token ? "metrics key is not valid" : "send Authorization: Bearer <metrics key>",
    );
  }
  const now = Date.now();
  // This isolate's own counts first, so a single-isolate deployment shows them at once.
  await flushMetrics(c.env.WAREHOUSE, now);
  const d1 = c.env.WAREHOUSE;
  const [counters, stats, single, quarantine, experiments, members, latestRun] = await d1.batch([
    d1.prepare("SELECT name, labels, value FROM metric_counters"),
    d1.prepare("SELECT name, value FROM sink_stats"),
    d1.prepare(`SELECT
      (SELECT COUNT(*) FROM dead_letters) AS dead_letters,
      (SELECT COUNT(*) FROM events WHERE lake_key IS NULL) AS lake_pending,
      (SELECT COUNT(*) FROM audiences) AS audiences,
      (SELECT COUNT(*) FROM alert_incidents WHERE resolved_at IS NULL) AS alerts_open`),
    d1.prepare("SELECT code AS name, COUNT(*) AS value FROM bad_events WHERE replayed_at IS NULL GROUP BY code"),
    d1.prepare("SELECT status AS name, COUNT(*) AS value FROM experiments GROUP BY status"),
    d1.prepare(
      "SELECT audience_key AS name, COUNT(*) AS value FROM audience_memberships WHERE exited_at IS NULL GROUP BY audience_key",
    ),
    prepare(
      d1,
      sql`SELECT finished_at, checks FROM quality_runs WHERE finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT 1`,
    ),
  ]);
  const stat = new Map(((stats?.results ?? []) as NameValue[]).map((r) => [r.name, r.value]));
  const rows = [...((counters?.results ?? []) as CounterRow[])];
  rows.push({ name: "sink_batches_total", labels: "", value: stat.get("batches") ?? 0 });
  for (const table of SINK_TABLES) {
    rows.push({ name: "sink_rows_written_total", labels: labelText({ table }), value: stat.get(table) ?? 0 });
  }
  rows.push({ name: "events_suppressed_total", labels: "", value: stat.get("suppressed_events") ?? 0 });

  const one = (single?.results?.[0] ?? {}) as Record<string, number>;
  const gauges: GaugeSample[] = [
    { name: "sink_dead_letters", value: one.dead_letters ?? 0 },
    { name: "lake_pending_events", value: one.lake_pending ?? 0 },
    { name: "audiences", value: one.audiences ?? 0 },
    { name: "alerts_open", value: one.alerts_open ?? 0 },
  ];
  const lastLag = stat.get("last_lag_ms");
  if (lastLag !== undefined) gauges.push({ name: "sink_lag_seconds", value: lastLag / 1000 });
  const lastBatchAt = stat.get("last_batch_at");
  if (lastBatchAt !== undefined) {
    gauges.push({ name: "sink_last_batch_age_seconds", value: Math.max(0, (now - lastBatchAt) / 1000) });
  }
  for (const r of (quarantine?.results ?? []) as NameValue[]) {
    gauges.push({ name: "quarantine_messages", labels: { reason: r.name }, value: r.value });
  }
  for (const r of (experiments?.results ?? []) as NameValue[]) {
    gauges.push({ name: "experiments", labels: { status: r.name }, value: r.value });
  }
  for (const r of (members?.results ?? []) as NameValue[]) {
    gauges.push({ name: "audience_members", labels: { audience: r.name }, value: r.value });
  }
  const run = latestRun?.results?.[0] as { finished_at: number; checks: string | null } | undefined;
  if (run) {
    gauges.push({ name: "quality_last_run_timestamp_seconds", value: run.finished_at / 1000 });
    for (const check of JSON.parse(run.checks ?? "[]") as { check: string; status: string }[]) {
      gauges.push({
        name: "quality_check_status",
        labels: { check: check.check },
        value: STATUS_VALUE[check.status] ?? 2,
      });
    }
  }
  if (settingsOf(c.env).sinkCoalesceMs !== null) {
    const buffers = await Promise.all(
      Array.from({ length: SINK_BUFFER_SHARDS }, (_, i) => sinkBuffer(c.env, i).status()),
    );
    gauges.push({ name: "outbox_pending_runs", value: buffers.reduce((n, b) => n + b.runs, 0) });
  }
  return c.text(renderExposition(rows, gauges), 200, {
    "content-type": "text/plain; version=0.0.4; charset=utf-8",
    "cache-control": "no-store",
  });
});

metricsRoutes.get("/v1/metrics/series", requireApiKey(), async (c) => {
  const raw = c.req.query("minutes") ?? "60";
  const minutes = Number(raw);
  if (!Number.isInteger(minutes) || minutes < 1 || minutes > METRIC_MINUTES_KEPT) {
    throw new ApiError(
      400,
      "invalid_minutes",
      `minutes must be a whole number from 1 to ${METRIC_MINUTES_KEPT} (the history kept); got "${raw.slice(0, 40)}"`,
    );
  }
  const now = Date.now();
  // This isolate's counts first, so the minute that is running shows what it has answered.
  await flushMetrics(c.env.WAREHOUSE, now);
  const to = minuteOf(now);
  const from = to - (minutes - 1) * MINUTE_MS;
  const aligned = alignSeries(await minuteRows(c.env.WAREHOUSE, from, to), from, to);
  c.header("cache-control", "no-store");
  return c.json({ stepSeconds: 60, ...aligned });
});
