/**
 * Observability end to end on `npm start`'s runtime: Debian's Prometheus
 * scrapes `GET /metrics` with the metrics key, and the test reads counters
 * and gauges back through Prometheus's own HTTP query API after sending
 * events; a local Slack-style webhook receiver gets exactly one alert when a
 * quality check starts failing — however many runs see it fail — and exactly
 * one when it recovers.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { E2E_KEYS, freePort, startProductionServer } from "../../scripts/local-server.mjs";
import { postBatch, sinkStatus, waitFor } from "./sink-client";

const PROMETHEUS = process.env.PROMETHEUS_PATH ?? "/usr/bin/prometheus";
const apiAuth = { authorization: `Bearer ${E2E_KEYS.apiKey}` };

let server: Awaited<ReturnType<typeof startProductionServer>> | null = null;
let prometheus: ChildProcess | null = null;
let prometheusUrl = "";
let prometheusDir = "";
let receiver: Server | null = null;
const alerts: { text: string }[] = [];

/** A Slack incoming-webhook stand-in: records each `{ text }` it is posted. */
async function startReceiver(): Promise<string> {
  const port = await freePort();
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => {
      alerts.push(JSON.parse(body) as { text: string });
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
    });
  });
  await new Promise<void>((resolve) => receiver?.listen(port, "127.0.0.1", resolve));
  return `http://127.0.0.1:${port}/hooks/edge-profiles`;
}

async function startPrometheus(target: string) {
  prometheusDir = mkdtempSync(join(tmpdir(), "edge-profiles-prometheus-"));
  const port = await freePort();
  writeFileSync(
    join(prometheusDir, "prometheus.yml"),
    [
      "global:",
      "  scrape_interval: 1s",
      "scrape_configs:",
      "  - job_name: edge-profiles",
      "    metrics_path: /metrics",
      "    authorization:",
      "      type: Bearer",
      `      credentials: ${E2E_KEYS.metricsKey}`,
      "    static_configs:",
      `      - targets: ["${target}"]`,
      "",
    ].join("\n"),
  );
  prometheus = spawn(
    PROMETHEUS,
    [
      `--config.file=${join(prometheusDir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(prometheusDir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let log = "";
  prometheus.stderr?.on("data", (d) => {
    log = (log + String(d)).slice(-4000);
  });
  prometheusUrl = `http://127.0.0.1:${port}`;
  await waitFor(
    async () =>
      fetch(`${prometheusUrl}/-/ready`).then(
        (r) => r.ok,
        () => false,
      ),
    (ready) => ready || prometheus?.exitCode !== null,
    "Prometheus to be ready",
    30_000,
  );
  if (prometheus.exitCode !== null) throw new Error(`prometheus exited with ${prometheus.exitCode}:\n${log}`);
}

/** One instant query through Prometheus's HTTP API: the value of each series, by its labels. */
async function query(promql: string): Promise<{ labels: Record<string, string>; value: number }[]> {
  const res = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await res.json()) as {
    status: string;
    data: { result: { metric: Record<string, string>; value: [number, string] }[] };
  };
  if (body.status !== "success") throw new Error(`query ${promql} → ${JSON.stringify(body)}`);
  return body.data.result.map((r) => ({ labels: r.metric, value: Number(r.value[1]) }));
}

const scalar = async (promql: string) => (await query(promql))[0]?.value ?? null;

beforeAll(async () => {
  if (!existsExecutable(PROMETHEUS)) {
    throw new Error(`${PROMETHEUS} not found: install Debian's prometheus (apt-get install prometheus)`);
  }
  const hook = await startReceiver();
  server = await startProductionServer({ vars: { ALERT_WEBHOOK_URLS: hook } });
  await startPrometheus(new URL(server.url).host);
});

afterAll(async () => {
  prometheus?.kill("SIGTERM");
  await server?.stop();
  await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
  if (prometheusDir) rmSync(prometheusDir, { recursive: true, force: true });
});

/** Whether the binary runs at all (`--version` exits 0). */
function existsExecutable(path: string): boolean {
  return spawnSync(path, ["--version"]).status === 0;
}

it("Prometheus scrapes the service and reads back what was sent", async () => {
  const base = server?.url ?? "";
  // The series exists from the first scrape, at 0.
  await waitFor(
    () => scalar('edge_profiles_events_accepted_total{job="edge-profiles"}'),
    (v) => v === 0,
    "the first scrape",
    30_000,
  );
  const batch = [
    ...Array.from({ length: 37 }, (_, i) => ({ type: "track", event: "Page Loaded", userId: `scraped-${i % 5}` })),
    { type: "track", userId: "scraped-x" }, // no event name
    { type: "track", event: "No identity" },
    { type: "track", event: "No identity either" },
  ];
  const res = await postBatch(base, batch);
  expect(res.status).toBe(200);
  expect(((await res.json()) as { accepted: number }).accepted).toBe(37);

  await waitFor(
    () => scalar("edge_profiles_events_accepted_total"),
    (v) => v === 37,
    "37 accepted in Prometheus",
    30_000,
  );
  await waitFor(
    () => scalar('edge_profiles_events_rejected_total{reason="missing_identity"}'),
    (v) => v === 2,
    "2 rejected without identity in Prometheus",
    30_000,
  );
  expect(await scalar('edge_profiles_events_rejected_total{reason="invalid_fields"}')).toBe(1);
  // The batch's latency is in the ingest family's histogram, and a quantile can be taken of it.
  expect(
    await scalar('edge_profiles_http_request_duration_seconds_count{family="ingest",code="2xx"}'),
  ).toBeGreaterThanOrEqual(1);
  const p99 = await scalar(
    'histogram_quantile(0.99, sum by (le) (edge_profiles_http_request_duration_seconds_bucket{family="ingest"}))',
  );
  expect(p99).toBeGreaterThan(0);
  // The sink's numbers, as gauges.
  await waitFor(
    () => sinkStatus(base),
    (s) => s.tables.events === 37,
    "37 events in the warehouse",
  );
  await waitFor(
    () => scalar('edge_profiles_sink_rows_written_total{table="events"}'),
    (v) => v === 37,
    "37 event rows written, in Prometheus",
    30_000,
  );
  expect(await scalar("edge_profiles_sink_dead_letters")).toBe(0);
});

async function runQuality(base: string) {
  const started = await fetch(`${base}/v1/quality/runs`, { method: "POST", headers: apiAuth });
  expect(started.status).toBe(202);
  const { id } = (await started.json()) as { id: string };
  return waitFor(
    async () =>
      (await (await fetch(`${base}/v1/quality/runs/${id}`, { headers: apiAuth })).json()) as {
        finishedAt: string | null;
        checks: { check: string; status: string }[];
      },
    (run) => run.finishedAt !== null,
    `quality run ${id}`,
  );
}

const statusOf = (run: { checks: { check: string; status: string }[] }, check: string) =>
  run.checks.find((c) => c.check === check)?.status;

it("alerts once when a check starts failing, stays quiet while it fails, and once when it recovers", async () => {
  const base = server?.url ?? "";
  const before = (await sinkStatus(base)).tables.events;
  // A tracker that lost the price: every product view without one.
  const broken = Array.from({ length: 20 }, (_, i) => ({
    type: "track",
    event: "Product Viewed",
    userId: `viewer-${i}`,
    properties: { product_id: `p${i}` },
  }));
  expect((await postBatch(base, broken)).status).toBe(200);
  await waitFor(
    () => sinkStatus(base),
    (s) => s.tables.events === before + 20,
    "the broken views in the warehouse",
  );

  const failing = await runQuality(base);
  expect(statusOf(failing, "completeness.product_price")).toBe("fail");
  await waitFor(
    async () => alerts.length,
    (n) => n >= 1,
    "the alert",
  );
  // Prometheus sees the check's status as 2 (fail).
  await waitFor(
    () => scalar('edge_profiles_quality_check_status{check="completeness.product_price"}'),
    (v) => v === 2,
    "the failed check in Prometheus",
    30_000,
  );

  // Still failing: a second run sends nothing more.
  const again = await runQuality(base);
  expect(statusOf(again, "completeness.product_price")).toBe("fail");

  // The tracker is fixed: 3,000 views with their price bring the share missing under 1%.
  for (let round = 0; round < 3; round++) {
    const fixed = Array.from({ length: 1000 }, (_, i) => ({
      type: "track",
      event: "Product Viewed",
      userId: `buyer-${round}-${i % 200}`,
      properties: { product_id: `p${i % 20}`, price: 20 + (i % 20) },
    }));
    expect((await postBatch(base, fixed)).status).toBe(200);
  }
  await waitFor(
    () => sinkStatus(base),
    (s) => s.tables.events === before + 3020,
    "the fixed views in the warehouse",
  );
  const recovered = await runQuality(base);
  expect(statusOf(recovered, "completeness.product_price")).toBe("pass");
  await waitFor(
    async () => alerts.length,
    (n) => n >= 2,
    "the recovery",
  );

  // Give a stray third message time to arrive before counting.
  await new Promise((r) => setTimeout(r, 2_000));
  expect(alerts).toHaveLength(2);
  expect(alerts[0]?.text).toMatch(
    /^:red_circle: .*quality check completeness\.product_price failed: 20 of 20 product events/,
  );
  expect(alerts[1]?.text).toMatch(/^:large_green_circle: .*resolved after .*completeness\.product_price/);
  await waitFor(
    () => scalar("edge_profiles_alerts_open"),
    (v) => v === 0,
    "no open alert in Prometheus",
    30_000,
  );
}, 240_000);
