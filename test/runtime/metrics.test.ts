/**
 * `GET /metrics` in the runtime: its own key, the text format a Prometheus
 * server parses, and counters that move by exactly what was sent — accepted,
 * rejected by reason, flagged by the tracking plan, merge calls by strategy,
 * request latency by route family.
 */
import { describe, expect, it } from "vitest";
import { API_KEY, call, sendBatch, uid } from "./helpers";

const METRICS_KEY = "test-metrics-key";

async function scrape(): Promise<Map<string, number>> {
  const res = await call("/metrics", { headers: { authorization: `Bearer ${METRICS_KEY}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
  const samples = new Map<string, number>();
  for (const line of (await res.text()).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

const value = (m: Map<string, number>, series: string) => m.get(series) ?? 0;

describe("GET /metrics", () => {
  it("answers only a metrics key: not an API key, not nothing", async () => {
    expect((await call("/metrics")).status).toBe(401);
    const withApiKey = await call("/metrics", { headers: { authorization: `Bearer ${API_KEY}` } });
    expect(withApiKey.status).toBe(401);
    expect(((await withApiKey.json()) as { error: { message: string } }).error.message).toBe(
      "metrics key is not valid",
    );
  });

  it("counts accepted and rejected messages, by reason, exactly once each", async () => {
    const before = await scrape();
    const user = uid("metrics");
    await sendBatch([
      { type: "track", event: "Product Viewed", userId: user },
      { type: "track", event: "Product Viewed", userId: user },
      { type: "page", userId: user },
      { type: "track", userId: user },
      { type: "track", event: "No identity" },
    ]);
    const after = await scrape();
    expect(
      value(after, "edge_profiles_events_accepted_total") - value(before, "edge_profiles_events_accepted_total"),
    ).toBe(3);
    const rejected = (m: Map<string, number>, reason: string) =>
      value(m, `edge_profiles_events_rejected_total{reason="${reason}"}`);
    expect(rejected(after, "invalid_fields") - rejected(before, "invalid_fields")).toBe(1);
    expect(rejected(after, "missing_identity") - rejected(before, "missing_identity")).toBe(1);
    // The batch's own request is in the ingest family's latency histogram.
    const count = (m: Map<string, number>) =>
      value(m, 'edge_profiles_http_request_duration_seconds_count{code="2xx",family="ingest"}');
    expect(count(after) - count(before)).toBe(1);
  });

  it("counts merge calls by the strategy they were answered with", async () => {
    const before = await scrape();
    const res = await call(`/v1/merge/user_id:${uid("nobody")}`, { headers: { authorization: `Bearer ${API_KEY}` } });
    expect(res.status).toBe(200);
    const after = await scrape();
    const trending = (m: Map<string, number>) => value(m, 'edge_profiles_merge_calls_total{strategy="trending"}');
    expect(trending(after) - trending(before)).toBe(1);
  });
});
