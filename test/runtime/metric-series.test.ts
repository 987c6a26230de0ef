/**
 * `GET /v1/metrics/series`: the metrics minute by minute, as the console's
 * Overview charts them — counters moved by exactly what was sent, gauges
 * as the every-minute cron sampled them, one aligned timeline, an API key.
 */
import { createScheduledController, env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { metricSeriesResponse, minuteOf } from "../../src/model/metric-series";
import { call, read, sendBatch, uid } from "./helpers";

type SeriesBody = ReturnType<typeof metricSeriesResponse.parse>;

async function series(minutes = 10): Promise<SeriesBody> {
  const res = await read(`/v1/metrics/series?minutes=${minutes}`);
  expect(res.status).toBe(200);
  return metricSeriesResponse.parse(await res.json());
}

/** The sum over the window of one series (a counter's total within it). */
function total(body: SeriesBody, metric: string, labels: Record<string, string> = {}): number {
  const match = body.series.find((s) => s.metric === metric && JSON.stringify(s.labels) === JSON.stringify(labels));
  return (match?.values ?? []).reduce<number>((n, v) => n + (v ?? 0), 0);
}

describe("GET /v1/metrics/series", () => {
  it("needs the API key, and says what a bad window is", async () => {
    expect((await call("/v1/metrics/series")).status).toBe(401);
    const bad = await read("/v1/metrics/series?minutes=5000");
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toContain("1 to 1440");
  });

  it("answers one aligned timeline of whole minutes, the newest being this one", async () => {
    const body = await series(30);
    expect(body.minutes).toHaveLength(30);
    expect(body.minutes.every((m, i) => i === 0 || m - (body.minutes[i - 1] as number) === 60)).toBe(true);
    const now = Date.now() / 1000;
    expect(now - (body.minutes.at(-1) as number)).toBeLessThan(61);
    for (const s of body.series) expect(s.values).toHaveLength(30);
  });

  it("moves accepted and rejected by exactly what was sent, within the last minutes", async () => {
    const before = await series();
    const user = uid("series");
    await sendBatch([
      { type: "track", event: "Product Viewed", userId: user },
      { type: "page", userId: user },
      { type: "track", userId: user },
    ]);
    const after = await series();
    expect(total(after, "events_accepted_total") - total(before, "events_accepted_total")).toBe(2);
    expect(
      total(after, "events_rejected_total", { reason: "invalid_fields" }) -
        total(before, "events_rejected_total", { reason: "invalid_fields" }),
    ).toBe(1);
  });

  it("keeps the gauges the every-minute cron sampled: dead letters and open quarantine by reason", async () => {
    const user = uid("series-q");
    await sendBatch([{ type: "track", userId: user }]);
    const open = (await env.WAREHOUSE.prepare(
      "SELECT COUNT(*) AS n FROM bad_events WHERE replayed_at IS NULL AND code = 'invalid_fields'",
    ).first<{ n: number }>()) as { n: number };
    const scheduledTime = Date.now();
    await worker.scheduled(createScheduledController({ scheduledTime, cron: "* * * * *" }), env);
    const body = await series(3);
    // The sampled minute's place on the timeline, wherever the minute boundaries fell during the test.
    const at = body.minutes.indexOf(minuteOf(scheduledTime) / 1000);
    expect(at).toBeGreaterThanOrEqual(0);
    const quarantine = body.series.find(
      (s) => s.metric === "quarantine_messages" && s.labels.reason === "invalid_fields",
    );
    expect(quarantine?.type).toBe("gauge");
    expect(quarantine?.values[at]).toBe(open.n);
    const dead = body.series.find((s) => s.metric === "sink_dead_letters");
    expect(dead?.values[at]).toBe(0);
    // A minute the cron did not sample is a gap, not a zero.
    expect(dead?.values.filter((v) => v === null)).toHaveLength(2);
  });

  it("drops minutes older than a day when the cron samples", async () => {
    const now = Date.now();
    const old = minuteOf(now) - 1441 * 60_000;
    await env.WAREHOUSE.prepare(
      "INSERT INTO metric_minutes (minute, name, labels, value) VALUES (?, 'events_accepted_total', '', 5)",
    )
      .bind(old)
      .run();
    await worker.scheduled(createScheduledController({ scheduledTime: now, cron: "* * * * *" }), env);
    const left = await env.WAREHOUSE.prepare("SELECT COUNT(*) AS n FROM metric_minutes WHERE minute = ?")
      .bind(old)
      .first<number>("n");
    expect(left).toBe(0);
  });
});
