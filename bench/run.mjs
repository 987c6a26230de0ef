#!/usr/bin/env node
/**
 * `npm run bench`: starts the service under `wrangler dev` (workerd +
 * Miniflare, on-disk state in a temporary directory) and measures, in one run
 * with autocannon as the load generator:
 *
 *   - `GET /healthz`, the runtime floor (no auth, no actor call);
 *   - `GET /v1/merge/:id?format=html` rotating over 1,000 warm profiles, by
 *     user id and by e-mail (one extra hop through the identifier directory),
 *     alternating, twice each;
 *   - `POST /v1/batch` browser-like (20 events, one person per request) and
 *     server-like (100 events across 50 people per request).
 *
 * Results go to `bench/results/<timestamp>.json` and the table between the
 * markers in `docs/performance.md`. The load generator shares the machine with
 * workerd, so both compete for the same cores; that is part of what is measured.
 *
 * Environment: BENCH_SECONDS (per scenario, default 10), BENCH_CONNECTIONS
 * (default 16), BENCH_PROFILES (default 1000).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { E2E_KEYS, startLocalServer } from "../scripts/local-server.mjs";
import { probeFreshness, sinkCounters, waitForDrain } from "./freshness.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const PROFILES = Number(process.env.BENCH_PROFILES ?? 1000);
/**
 * People each ingest scenario spreads its events over: existing, recently
 * active actors, as in steady traffic (a visitor's next batch arrives while
 * their actor is still in memory). Idle actors are evicted by the runtime
 * after a few seconds; `docs/performance.md` reports what a cold one costs.
 */
const INGEST_PEOPLE = 500;
/** Runs of each merge case, alternating user id and e-mail. */
const MERGE_ROUNDS = 2;

const writeAuth = `Basic ${Buffer.from(`${E2E_KEYS.writeKey}:`).toString("base64")}`;
const apiHeaders = { authorization: `Bearer ${E2E_KEYS.apiKey}`, "content-type": "application/json" };
const catalog = JSON.parse(readFileSync(join(root, "scripts", "demo-catalog.json"), "utf8")).products;
const runId = Date.now().toString(36);

function log(line) {
  process.stdout.write(`${line}\n`);
}

/** One person's plausible visit: a category page, product views, an add to cart. */
function visitEvents(userId, n, seq) {
  const events = [];
  for (let i = 0; i < n; i++) {
    const p = catalog[(seq + i * 7) % catalog.length];
    const messageId = `${runId}-${seq}-${i}`;
    if (i % 5 === 0) {
      events.push({
        type: "page",
        userId,
        messageId,
        name: p.categories[0],
        properties: { url: `https://shop.example.com/c/${i}`, category: p.categories[0] },
      });
    } else {
      events.push({
        type: "track",
        userId,
        messageId,
        event: i % 5 === 4 ? "Product Added" : "Product Viewed",
        properties: { product_id: p.id, category: p.categories[0], brand: p.brand, price: p.price },
        context: { userAgent: "Mozilla/5.0 (X11; Linux x86_64)", page: { url: p.url } },
      });
    }
  }
  return events;
}

/** Prefixes a scenario's messageIds so no two scenarios ever share one. */
function tag(scenario) {
  return (e) => ({ ...e, messageId: `${scenario}-${e.messageId}` });
}

/**
 * Posts a seed batch, retrying a failed answer: `wrangler dev` now and then
 * restarts its Worker while a request is in flight, and the batch's fixed
 * messageIds make a retry safe.
 */
async function post(url, body, attempt = 1) {
  const res = await fetch(url, {
    method: "POST",
    headers: { authorization: writeAuth, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.ok) {
    const json = JSON.parse(text);
    if (json.rejected.length === 0) return json.accepted;
    throw new Error(`seed batch rejected messages: ${text.slice(0, 300)}`);
  }
  if (attempt < 3) return post(url, body, attempt + 1);
  throw new Error(`seed batch failed: ${res.status} ${text.slice(0, 300)}`);
}

/** Runs `tasks` with at most `width` in flight. */
async function pooled(tasks, width) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < tasks.length) await tasks[next++]();
    }),
  );
}

async function seed(base) {
  const put = await fetch(`${base}/v1/catalog/products`, {
    method: "PUT",
    headers: apiHeaders,
    body: JSON.stringify({ products: catalog }),
  });
  if (!put.ok) throw new Error(`catalog load failed: ${put.status} ${await put.text()}`);

  // 1,000 profiles with traits and a few interactions each, 50 people per request.
  const tasks = [];
  for (let first = 0; first < PROFILES; first += 50) {
    tasks.push(async () => {
      const batch = [];
      for (let u = first; u < Math.min(first + 50, PROFILES); u++) {
        const userId = `bench-${u}`;
        batch.push({
          type: "identify",
          userId,
          messageId: `${runId}-id-${u}`,
          traits: { firstName: `Reader${u}`, email: `reader-${u}@example.com` },
        });
        batch.push(...visitEvents(userId, 4, u * 13));
      }
      await post(`${base}/v1/batch`, { batch });
    });
  }
  // The people the ingest scenarios write to exist already (steady traffic,
  // not first visits): one small batch each, 50 people per request.
  for (const prefix of ["shopper", "server"]) {
    for (let first = 0; first < INGEST_PEOPLE; first += 50) {
      tasks.push(async () => {
        const batch = [];
        for (let u = first; u < first + 50; u++)
          batch.push(...visitEvents(`${prefix}-${u}`, 1, u).map(tag(`seed-${prefix}`)));
        await post(`${base}/v1/batch`, { batch });
      });
    }
  }
  await pooled(tasks, 4);
}

/** Touches each path once, so the scenario that follows meets warm actors and a warm catalog copy. */
async function warm(base, paths) {
  await pooled(
    paths.map((path) => async () => {
      const res = await fetch(`${base}${path}`, { headers: apiHeaders });
      if (!res.ok) throw new Error(`warm-up ${path} failed: ${res.status}`);
      await res.arrayBuffer();
    }),
    8,
  );
}

const people = (prefix, n) => Array.from({ length: n }, (_, u) => `/v1/profiles/user_id:${prefix}-${u}`);

/** Throughput averaged over a scenario's runs (each run's figure kept); latency of the last run. */
function meanOfRuns(list) {
  const last = list.at(-1);
  const perRun = list.map((r) => r.requestsPerSecond);
  return {
    ...last,
    requestsPerSecond: Math.round(perRun.reduce((a, b) => a + b, 0) / perRun.length),
    runsRequestsPerSecond: perRun,
    requests: list.reduce((a, r) => a + r.requests, 0),
    non2xx: list.reduce((a, r) => a + r.non2xx, 0),
    errors: list.reduce((a, r) => a + r.errors, 0),
    timeouts: list.reduce((a, r) => a + r.timeouts, 0),
    failures: list.flatMap((r) => r.failures).slice(0, 5),
  };
}

function summarize(name, r, eventsPerRequest = 0) {
  const ok = r.requests.total - r.non2xx - r.errors - r.timeouts;
  const requestsPerSecond = ok / (r.duration || SECONDS);
  return {
    name,
    requestsPerSecond: Math.round(requestsPerSecond),
    eventsPerSecond: eventsPerRequest ? Math.round(requestsPerSecond * eventsPerRequest) : undefined,
    latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max },
    requests: r.requests.total,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    seconds: r.duration,
    failures,
  };
}

/** Failed responses seen by the running scenario: status and the start of the body, a few of each. */
let failures = [];

function load(opts) {
  failures = [];
  const requests = (opts.requests ?? [{}]).map((r) => ({
    ...r,
    onResponse: (status, body) => {
      if (status >= 400 && failures.length < 5) failures.push({ status, body: String(body).slice(0, 300) });
    },
  }));
  return autocannon({ connections: CONNECTIONS, duration: SECONDS, ...opts, requests });
}

async function measure(base, persistDir) {
  const results = {};
  log(`healthz: ${SECONDS}s × ${CONNECTIONS} connections`);
  results.healthz = summarize("GET /healthz", await load({ url: `${base}/healthz` }));

  let n = 0;
  const mergePath = (u) => `/v1/merge/user_id:bench-${u}?format=html`;
  // The same people looked up by e-mail: one extra hop through the identifier directory.
  const emailPath = (u) => `/v1/merge/email:reader-${u}@example.com?format=html`;
  await warm(base, Array.from({ length: PROFILES }, (_, u) => [mergePath(u), emailPath(u)]).flat());
  // The seed's change records are in the warehouse before reads are measured, so the sink's
  // consumer does not compete with one case more than the other.
  await waitForDrain(base, E2E_KEYS.apiKey);
  const mergeLoad = (path) =>
    load({
      url: base,
      headers: { authorization: apiHeaders.authorization },
      requests: [
        {
          method: "GET",
          setupRequest: (req) => {
            req.path = path(n++ % PROFILES);
            return req;
          },
        },
      ],
    });
  // The two cases alternate, twice each, so drift over the run (the runtime warming up, actors
  // being evicted) falls on both alike; each is reported as the mean of its two runs.
  const runs = { merge: [], mergeEmail: [] };
  for (let round = 1; round <= MERGE_ROUNDS; round++) {
    log(`merge by user id, round ${round}: ${SECONDS}s over ${PROFILES} warm profiles`);
    runs.merge.push(summarize("GET /v1/merge/user_id:…?format=html", await mergeLoad(mergePath)));
    log(`merge by e-mail, round ${round}: ${SECONDS}s over the same ${PROFILES} profiles`);
    runs.mergeEmail.push(summarize("GET /v1/merge/email:…?format=html", await mergeLoad(emailPath)));
  }
  results.merge = meanOfRuns(runs.merge);
  results.mergeEmail = meanOfRuns(runs.mergeEmail);

  let seq = 0;
  const batchRequest = (build) => ({
    method: "POST",
    setupRequest: (req) => {
      req.body = JSON.stringify({ batch: build(seq++) });
      return req;
    },
  });
  const headers = { authorization: writeAuth, "content-type": "application/json" };

  await warm(base, people("shopper", INGEST_PEOPLE));
  await waitForDrain(base, E2E_KEYS.apiKey);
  log(`ingest, browser-like: 20 events from one person per request`);
  results.ingestBrowser = summarize(
    "POST /v1/batch browser-like (20 events, 1 person)",
    await load({
      url: `${base}/v1/batch`,
      headers,
      requests: [batchRequest((s) => visitEvents(`shopper-${s % INGEST_PEOPLE}`, 20, s * 20).map(tag("browser")))],
    }),
    20,
  );

  await warm(base, people("server", INGEST_PEOPLE));
  await waitForDrain(base, E2E_KEYS.apiKey);
  const before = await sinkCounters(base, E2E_KEYS.apiKey);
  log(`ingest, server-like: 100 events across 50 people per request, with freshness probes`);
  let serverLike;
  const freshnessUnderLoad = await probeFreshness({
    base,
    persistDir,
    writeAuth,
    label: "load",
    during: async () => {
      serverLike = await serverLikeLoad();
    },
  });
  results.ingestServer = summarize("POST /v1/batch server-like (100 events, 50 people)", serverLike, 100);
  const drainSeconds = await waitForDrain(base, E2E_KEYS.apiKey);
  const after = await sinkCounters(base, E2E_KEYS.apiKey);
  const events = after.events - before.events;
  results.sink = {
    freshnessUnderLoad,
    drainSecondsAfterLoad: drainSeconds,
    eventsWritten: events,
    consumerBatches: after.batches - before.batches,
    statementsPer1000Events:
      events > 0 ? Math.round(((after.statements - before.statements) / events) * 1000 * 10) / 10 : null,
  };
  return results;

  function serverLikeLoad() {
    return load({
      url: `${base}/v1/batch`,
      headers,
      requests: [
        batchRequest((s) => {
          const batch = [];
          for (let u = 0; u < 50; u++) {
            batch.push(...visitEvents(`server-${(s * 50 + u) % INGEST_PEOPLE}`, 2, s * 100 + u * 2).map(tag("server")));
          }
          return batch;
        }),
      ],
    });
  }
}

/**
 * CPU time each workerd process spends per request, one request at a time:
 * what bounds throughput on a machine whose cores the processes share.
 * `wrangler dev` runs two workerd processes — its proxy in front, and the
 * Worker with its actors — so both are reported. Linux only (`/proc`).
 */
function workerdPids(groupId) {
  if (!existsSync("/proc")) return [];
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        return stat.includes("(workerd)") && Number(fields[2]) === groupId;
      } catch {
        return false;
      }
    })
    .map(Number)
    .sort((a, b) => a - b);
}

function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime + stime, in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** The proxy is the workerd listening on the public port; the rest run the Worker and its actors. */
function isProxy(pid, port) {
  return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(`entry=127.0.0.1:${port}`);
}

async function cpuPerRequest(base, port, groupId) {
  const all = workerdPids(groupId);
  const proxy = all.filter((pid) => isProxy(pid, port));
  const workers = all.filter((pid) => !proxy.includes(pid));
  if (workers.length === 0) return null;
  log(`  workerd processes: proxy ${proxy.join(",")}, worker ${workers.join(",")}`);
  const pids = [...proxy, ...workers];
  const n = 200;
  const requests = {
    healthz: () => fetch(`${base}/healthz`),
    merge: (i) => fetch(`${base}/v1/merge/user_id:bench-${i % PROFILES}?format=html`, { headers: apiHeaders }),
    ingestBrowser: (i, round) =>
      fetch(`${base}/v1/batch`, {
        method: "POST",
        headers: { authorization: writeAuth, "content-type": "application/json" },
        body: JSON.stringify({
          batch: visitEvents(`shopper-${i % INGEST_PEOPLE}`, 20, (round * n + i) * 20).map(tag("cpu")),
        }),
      }),
  };
  const out = {};
  const sum = (list) => Math.round(list.reduce((a, b) => a + b, 0) * 100) / 100;
  for (const [name, send] of Object.entries(requests)) {
    // The same 200 people twice: first while their actors are idle (evicted), then while they are in memory.
    for (const pass of ["cold", "warm"]) {
      const before = pids.map(cpuMs);
      for (let i = 0; i < n; i++) {
        const res = await send(i, pass === "cold" ? 0 : 1);
        await res.arrayBuffer();
        if (!res.ok) throw new Error(`${name} failed during the CPU probe: ${res.status}`);
      }
      const spent = pids.map((pid, k) => (cpuMs(pid) - before[k]) / n);
      out[`${name} (${pass})`] = {
        proxyMs: sum(spent.slice(0, proxy.length)),
        workerMs: sum(spent.slice(proxy.length)),
      };
    }
  }
  return out;
}

/** Resident memory of each workerd process, MiB (after the load: every actor of the run is in memory). */
function workerdMemoryMiB(port, groupId) {
  const rss = (pid) =>
    Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024);
  const all = workerdPids(groupId);
  return {
    proxy: all.filter((pid) => isProxy(pid, port)).map(rss),
    worker: all.filter((pid) => !isProxy(pid, port)).map(rss),
  };
}

/** Reads one ingested profile back, so the numbers count events applied, not just acknowledged. */
async function verify(base, results) {
  const res = await fetch(`${base}/v1/profiles/user_id:shopper-0`, { headers: apiHeaders });
  const profile = res.ok ? await res.json() : null;
  // One seed event, then 20 per browser-like request that fell on shopper-0.
  const expected = 1 + Math.ceil(results.ingestBrowser.requests / INGEST_PEOPLE) * 20;
  return { sampleProfileEvents: profile?.counts.events ?? 0, expectedAtLeast: expected - 20 };
}

function ratio(a, b) {
  return Math.round((a / b) * 100) / 100;
}

function table(run) {
  const r = run.results;
  const row = (x) =>
    `| ${x.name} | ${x.requestsPerSecond.toLocaleString("en-US")} | ${
      x.eventsPerSecond ? x.eventsPerSecond.toLocaleString("en-US") : "—"
    } | ${x.latencyMs.p50} | ${x.latencyMs.p99} | ${x.non2xx + x.errors + x.timeouts} |`;
  return [
    `Run ${run.date} · ${run.machine.cores} cores (${run.machine.cpu}) · Node ${run.machine.node} · ` +
      `${run.settings.seconds} s per scenario · ${run.settings.connections} connections · autocannon on the same machine`,
    "",
    "| scenario | req/s | events/s | p50 ms | p99 ms | failed |",
    "|---|---:|---:|---:|---:|---:|",
    row(r.healthz),
    row(r.merge),
    row(r.mergeEmail),
    row(r.ingestBrowser),
    row(r.ingestServer),
    "",
    "| goal | target | measured | met |",
    "|---|---|---|---|",
    `| merge throughput / healthz | ≥ 0.6 | ${run.goals.mergeThroughputRatio} | ${run.goals.mergeThroughputRatio >= 0.6 ? "yes" : "no"} |`,
    `| merge by e-mail / by user id | ≥ 0.75 | ${ratio(r.mergeEmail.requestsPerSecond, r.merge.requestsPerSecond)} | ${ratio(r.mergeEmail.requestsPerSecond, r.merge.requestsPerSecond) >= 0.75 ? "yes" : "no"} |`,
    `| merge p99 / healthz p99 | ≤ 2 | ${run.goals.mergeP99Ratio} | ${run.goals.mergeP99Ratio <= 2 ? "yes" : "no"} |`,
    `| browser-like ingest | ≥ 20,000 events/s | ${r.ingestBrowser.eventsPerSecond.toLocaleString("en-US")} | ${r.ingestBrowser.eventsPerSecond >= 20_000 ? "yes" : "no"} |`,
    `| server-like ingest | ≥ 10,000 events/s | ${r.ingestServer.eventsPerSecond.toLocaleString("en-US")} | ${r.ingestServer.eventsPerSecond >= 10_000 ? "yes" : "no"} |`,
    `| sink freshness p99 under server-like load | ≤ 2,000 ms | ${r.sink.freshnessUnderLoad.p99Ms ?? "—"} ms | ${(r.sink.freshnessUnderLoad.p99Ms ?? Number.POSITIVE_INFINITY) <= 2_000 ? "yes" : "no"} |`,
    "",
    "Sink: time from an event's 2xx to its row in D1 (probe events, one every 200 ms):",
    "",
    "| when | probes | in D1 | p50 ms | p99 ms | max ms |",
    "|---|---:|---:|---:|---:|---:|",
    ...[
      ["idle", r.sink.freshnessIdle],
      ["under server-like load", r.sink.freshnessUnderLoad],
    ].map(([when, f]) => `| ${when} | ${f.probes} | ${f.inWarehouse} | ${f.p50Ms} | ${f.p99Ms} | ${f.maxMs} |`),
    "",
    `Under server-like load the consumer wrote ${r.sink.eventsWritten.toLocaleString("en-US")} events in ${r.sink.consumerBatches} batches, ` +
      `${r.sink.statementsPer1000Events} D1 statements per 1,000 events; the warehouse stopped growing ${r.sink.drainSecondsAfterLoad} s after the load ended.`,
    "",
    `workerd resident memory after the run: proxy ${run.memoryMiB.proxy.join(", ")} MiB, Worker and actors ${run.memoryMiB.worker.join(", ")} MiB.`,
    ...(run.cpuPerRequestMs
      ? [
          "",
          "CPU time per request, one request at a time (ms):",
          "",
          "| request | wrangler's proxy workerd | Worker + actors workerd |",
          "|---|---:|---:|",
          ...Object.entries(run.cpuPerRequestMs).map(([name, c]) => `| ${name} | ${c.proxyMs} | ${c.workerMs} |`),
        ]
      : []),
  ].join("\n");
}

function writeReport(run) {
  const dir = join(root, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${run.date.replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, `${JSON.stringify(run, null, 2)}\n`);

  const docPath = join(root, "docs", "performance.md");
  const doc = readFileSync(docPath, "utf8");
  const start = "<!-- bench:start -->";
  const end = "<!-- bench:end -->";
  const from = doc.indexOf(start);
  const to = doc.indexOf(end);
  if (from < 0 || to < from) throw new Error(`${docPath} lacks the ${start} … ${end} markers`);
  writeFileSync(docPath, `${doc.slice(0, from + start.length)}\n${table(run)}\n${doc.slice(to)}`);
  return file;
}

const server = await startLocalServer({ args: ["--log-level", "warn"] });
try {
  log(`service on ${server.url} (workerd pid group ${server.pid}); seeding ${PROFILES} profiles`);
  await seed(server.url);
  // The seed's changes flow to the warehouse in the background; measure only once that has finished.
  log(`sink drained ${await waitForDrain(server.url, E2E_KEYS.apiKey)} s after seeding`);
  log("CPU per request, one request at a time");
  const cpuPerRequestMs = await cpuPerRequest(server.url, server.port, server.pid);
  await waitForDrain(server.url, E2E_KEYS.apiKey);
  log("sink freshness, idle");
  const freshnessIdle = await probeFreshness({
    base: server.url,
    persistDir: server.persistDir,
    writeAuth,
    label: "idle",
  });
  const results = await measure(server.url, server.persistDir);
  results.sink.freshnessIdle = freshnessIdle;
  const check = await verify(server.url, results);
  const memoryMiB = workerdMemoryMiB(server.port, server.pid);

  const run = {
    date: new Date().toISOString(),
    machine: {
      cores: cpus().length,
      cpu: cpus()[0]?.model ?? "unknown",
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
    },
    settings: { seconds: SECONDS, connections: CONNECTIONS, profiles: PROFILES, ingestPeople: INGEST_PEOPLE },
    results,
    goals: {
      mergeThroughputRatio: ratio(results.merge.requestsPerSecond, results.healthz.requestsPerSecond),
      mergeP99Ratio: ratio(results.merge.latencyMs.p99, Math.max(results.healthz.latencyMs.p99, 1)),
    },
    check,
    cpuPerRequestMs,
    memoryMiB,
  };
  const file = writeReport(run);
  log(
    `\n${table(run)}\n\nsample profile holds ${check.sampleProfileEvents} events (expected ≥ ${check.expectedAtLeast})`,
  );
  log(`results: ${file}`);
} finally {
  await server.stop();
}
