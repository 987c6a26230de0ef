#!/usr/bin/env node
/**
 * `npm run bench`: the service on `npm start`'s runtime (the deploy bundle in
 * workerd through Miniflare, no dev proxy; scripts/start.mjs), measured in one
 * run with one load generator (autocannon, on the same machine) against what
 * bounds it:
 *
 *   - `GET /healthz`, the runtime's floor for a request (no auth, no actor);
 *   - `GET /v1/profiles/:id`, one actor read with no ranking (the limit for a
 *     call that needs an actor at all);
 *   - `GET /v1/merge/:id?format=html` over 1,000 warm profiles, by user id (also
 *     inside an A/A experiment, for the experiment's own cost) and by e-mail, against the seed architecture's serving layer: Node + Redis
 *     answering the same block precomputed (bench/redis-baseline.mjs);
 *   - `POST /v1/batch` browser-like (20 events, one person per request) over
 *     1,000 and over 5,000 people, and server-like (100 events across 50
 *     people), against the storage floor: a minimal SQLite actor doing one
 *     upsert per request in the same runtime (bench/storage-floor.mjs);
 *   - sink freshness (an event's 2xx → its D1 row) idle and at half the
 *     browser-like capacity;
 *   - browser-like ingest with 20 audiences and 20 computed traits defined
 *     (bench/segments.mjs) against the same load without them, measured
 *     without, with, without again, so drift shows; and the same with a
 *     30-event tracking plan checking every event (bench/tracking-plan.mjs);
 *   - 20,000 new people × 5 events sent by a client that honours
 *     `Retry-After`, and how long until every accepted event is in D1;
 *   - CPU time of the workerd process per event and per merge call (process
 *     CPU ÷ work done), and from it the Cloudflare bill per million.
 *
 * Results go to `bench/results/<timestamp>.json` and the tables between the
 * markers in `docs/performance.md`.
 *
 * Environment: BENCH_SECONDS (per scenario, default 10), BENCH_CONNECTIONS
 * (default 32), BENCH_WIDE (people in the wide scenario, default 5000),
 * BENCH_NEW_PEOPLE (default 20000), BENCH_EXPERIMENT_ROUNDS (default 3).
 * BENCH_ONLY=segments runs only the audiences and computed traits comparison
 * (1,000 people) and writes `bench/results/segments-<timestamp>.json`;
 * BENCH_ONLY=tracking-plan likewise the tracking plan's (a 30-event plan,
 * bench/tracking-plan.mjs).
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { E2E_KEYS, startProductionServer } from "../scripts/local-server.mjs";
import { billPerMillion } from "./bill.mjs";
import { probeFreshness, sinkCounters, waitForDrain } from "./freshness.mjs";
import { measure as measureRedis, startRedisBaseline } from "./redis-baseline.mjs";
import { defineSegments, removeSegments, SEGMENT_COUNTS } from "./segments.mjs";
import { measureStorageFloor, startStorageFloor } from "./storage-floor.mjs";
import { definePlan, PLANNED_EVENTS, removePlan } from "./tracking-plan.mjs";
import { catalog, runId, visitEvents } from "./visits.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
/** Profiles the merge scenarios read, and people each ingest scenario writes to. */
const PEOPLE = 1000;
const WIDE = Number(process.env.BENCH_WIDE ?? 5000);
const NEW_PEOPLE = Number(process.env.BENCH_NEW_PEOPLE ?? 20_000);
/** Alternating rounds of merge outside and inside an experiment (BENCH_EXPERIMENT_ROUNDS, default 3). */
const EXPERIMENT_ROUNDS = Number(process.env.BENCH_EXPERIMENT_ROUNDS ?? 3);
const ONLY = process.env.BENCH_ONLY ?? null;
/** "With" rounds of the audiences comparison (BENCH_SEGMENT_ROUNDS, default 2), each between two "without". */
const SEGMENT_ROUNDS = Number(process.env.BENCH_SEGMENT_ROUNDS ?? 2);

const writeAuth = `Basic ${Buffer.from(`${E2E_KEYS.writeKey}:`).toString("base64")}`;
const apiHeaders = { authorization: `Bearer ${E2E_KEYS.apiKey}`, "content-type": "application/json" };
const jsonWrite = { authorization: writeAuth, "content-type": "application/json" };

const fmt = (n) => (typeof n === "number" ? n.toLocaleString("en-US") : "—");

function log(line) {
  process.stdout.write(`${line}\n`);
}

/** Posts a batch until it is accepted, waiting what a 503 or 429 says (as Segment's SDKs do); counts a batch given up after 100 tries. */
async function postHonouringRetryAfter(base, batch, stats) {
  for (let attempt = 0; attempt < 100; attempt++) {
    let res;
    try {
      res = await fetch(`${base}/v1/batch`, {
        method: "POST",
        headers: { ...jsonWrite, connection: "close" },
        body: JSON.stringify({ batch }),
      });
    } catch {
      stats.networkErrors += 1;
      await new Promise((r) => setTimeout(r, 1000));
      continue;
    }
    await res.arrayBuffer();
    if (res.ok) return;
    if (res.status >= 500) stats.fiveXx += 1;
    else stats.other += 1;
    await new Promise((r) => setTimeout(r, Number(res.headers.get("retry-after") ?? 1) * 1000));
  }
  stats.gaveUp = (stats.gaveUp ?? 0) + 1;
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

/** Creates `n` people named `<prefix>-<i>`, 50 per request, each with a few events (and traits for merge). */
async function seedPeople(base, prefix, n, withTraits = false) {
  const stats = { fiveXx: 0, other: 0, networkErrors: 0 };
  const tasks = [];
  for (let first = 0; first < n; first += 50) {
    tasks.push(async () => {
      const batch = [];
      for (let u = first; u < Math.min(first + 50, n); u++) {
        const userId = `${prefix}-${u}`;
        if (withTraits) {
          batch.push({
            type: "identify",
            userId,
            messageId: `${runId}-id-${prefix}-${u}`,
            traits: { firstName: `Reader${u}`, email: `${prefix}-${u}@example.com` },
          });
        }
        batch.push(...visitEvents(userId, 4, u * 13, `seed-${prefix}`));
      }
      await postHonouringRetryAfter(base, batch, stats);
    });
  }
  await pooled(tasks, 4);
}

/** Touches each path once, so the scenario that follows meets warm actors. */
async function warm(base, paths) {
  await pooled(
    paths.map((path) => async () => {
      const res = await fetch(`${base}${path}`, { headers: { ...apiHeaders, connection: "close" } });
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`warm-up ${path} failed: ${res.status}`);
    }),
    8,
  );
}

const profilePaths = (prefix, n) => Array.from({ length: n }, (_, u) => `/v1/profiles/user_id:${prefix}-${u}`);

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

function summarize(name, r, eventsPerRequest = 0) {
  // autocannon counts a timeout among `errors` too.
  const ok = r.requests.total - r.non2xx - r.errors;
  const requestsPerSecond = ok / (r.duration || SECONDS);
  return {
    name,
    requestsPerSecond: Math.round(requestsPerSecond),
    eventsPerSecond: eventsPerRequest ? Math.round(requestsPerSecond * eventsPerRequest) : undefined,
    latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max },
    requests: r.requests.total,
    okRequests: ok,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    seconds: r.duration,
    failures,
  };
}

/** GETs rotating over `n` paths built by `path(i)`. */
function rotatingGet(base, path, n) {
  let i = 0;
  return load({
    url: base,
    headers: { authorization: apiHeaders.authorization },
    requests: [
      {
        method: "GET",
        setupRequest: (req) => {
          req.path = path(i++ % n);
          return req;
        },
      },
    ],
  });
}

/** POSTs of batches built by `build(seq)`. */
function batches(base, build, extra = {}) {
  let seq = 0;
  return load({
    url: `${base}/v1/batch`,
    headers: jsonWrite,
    requests: [
      {
        method: "POST",
        setupRequest: (req) => {
          req.body = JSON.stringify({ batch: build(seq++) });
          return req;
        },
      },
    ],
    ...extra,
  });
}

/** workerd processes in `groupId`'s process group (npm start's one runtime process). Linux only. */
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
    .map(Number);
}

/** utime + stime of a process, ms (clock ticks are 10 ms on Linux). */
function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function rssMiB(pid) {
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024);
}

/**
 * Runs `scenario` and adds to its result the runtime's CPU time per unit of
 * work (`units(result)`) and what the sink wrote meanwhile: the sink shares
 * the thread, and a sink that stopped shows here first.
 */
async function withCpu(server, pids, scenario, units) {
  const sinkBefore = await sinkCounters(server.url, E2E_KEYS.apiKey);
  const before = pids.reduce((a, p) => a + cpuMs(p), 0);
  const result = await scenario();
  const spentMs = pids.reduce((a, p) => a + cpuMs(p), 0) - before;
  const sinkAfter = await sinkCounters(server.url, E2E_KEYS.apiKey);
  const n = units(result);
  const sink = { eventsWritten: sinkAfter.events - sinkBefore.events, batches: sinkAfter.batches - sinkBefore.batches };
  log(
    `  ${fmt(result.okRequests)} ok of ${fmt(result.requests)}; meanwhile the sink wrote ${fmt(sink.eventsWritten)} events in ${fmt(sink.batches)} batches`,
  );
  return {
    ...result,
    cpu: { runtimeMs: spentMs, units: n, microsPerUnit: n > 0 ? Math.round((spentMs * 1000) / n) : null },
    sink,
  };
}

async function measureProduct(server) {
  const base = server.url;
  const pids = workerdPids(server.pid);
  if (pids.length === 0) throw new Error("npm start's workerd process was not found");
  const results = {};
  const perRequest = (r) => r.okRequests;

  log(`healthz: ${SECONDS}s × ${CONNECTIONS} connections`);
  results.healthz = await withCpu(
    server,
    pids,
    async () => summarize("GET /healthz", await load({ url: `${base}/healthz` })),
    perRequest,
  );

  await warm(base, [
    ...profilePaths("bench", PEOPLE),
    ...Array.from({ length: PEOPLE }, (_, u) => `/v1/merge/email:bench-${u}@example.com?format=html`),
  ]);
  await waitForDrain(base, E2E_KEYS.apiKey);
  log("profile read (one actor call, no ranking)");
  results.profileRead = await withCpu(
    server,
    pids,
    async () =>
      summarize("GET /v1/profiles/:id", await rotatingGet(base, (u) => `/v1/profiles/user_id:bench-${u}`, PEOPLE)),
    perRequest,
  );
  // Merge by user id, outside and inside an A/A experiment (both variants
  // personalized), in alternation: the difference is the experiment's own cost
  // (its lookup, the sticky assignment read from the actor, the experiment and
  // variant sealed into each link), and alternating keeps the sink's and the
  // JIT's drift out of it. Each person's first exposure (a write) happens in
  // the warm-up; an ESP's later calls for the same send look like these.
  const plainPath = (u) => `/v1/merge/user_id:bench-${u}?format=html`;
  const experimentPath = (u) => `/v1/merge/user_id:bench-${u}?format=html&experiment=bench-aa`;
  const created = await fetch(`${base}/v1/experiments`, {
    method: "POST",
    headers: apiHeaders,
    body: JSON.stringify({
      id: "bench-aa",
      control: "a",
      variants: [
        { key: "a", weight: 1, strategy: "personalized" },
        { key: "b", weight: 1, strategy: "personalized" },
      ],
    }),
  });
  if (created.status !== 201) throw new Error(`experiment not created: ${created.status} ${await created.text()}`);
  await warm(
    base,
    Array.from({ length: PEOPLE }, (_, u) => experimentPath(u)),
  );
  await waitForDrain(base, E2E_KEYS.apiKey);
  const rounds = [];
  for (let round = 1; round <= EXPERIMENT_ROUNDS; round++) {
    const measureOutside = async () => {
      log(`merge by user id, outside an experiment (round ${round} of ${EXPERIMENT_ROUNDS})`);
      return withCpu(
        server,
        pids,
        async () => summarize("GET /v1/merge/user_id:…?format=html", await rotatingGet(base, plainPath, PEOPLE)),
        perRequest,
      );
    };
    // Odd rounds measure outside first, even rounds inside first: neither side always follows the other.
    const outsideFirst = round % 2 === 1 ? await measureOutside() : null;
    log(`merge by user id, inside an A/A experiment (round ${round} of ${EXPERIMENT_ROUNDS})`);
    const inside = await withCpu(
      server,
      pids,
      async () =>
        summarize(
          "GET /v1/merge/user_id:…?format=html&experiment= (A/A)",
          await rotatingGet(base, experimentPath, PEOPLE),
        ),
      perRequest,
    );
    const outside = outsideFirst ?? (await measureOutside());
    rounds.push({ outside, inside });
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const medianRound = (pick) =>
    rounds.map(pick).sort((a, b) => a.requestsPerSecond - b.requestsPerSecond)[Math.floor(rounds.length / 2)];
  results.merge = medianRound((r) => r.outside);
  results.mergeExperiment = medianRound((r) => r.inside);
  results.experimentOverhead = {
    rounds: rounds.length,
    cpuRatios: rounds.map((r) => ratio(r.inside.cpu.microsPerUnit, r.outside.cpu.microsPerUnit)),
    throughputRatios: rounds.map((r) => ratio(r.inside.requestsPerSecond, r.outside.requestsPerSecond)),
  };
  results.experimentOverhead.medianCpuRatio = median(results.experimentOverhead.cpuRatios);
  results.experimentOverhead.medianThroughputRatio = median(results.experimentOverhead.throughputRatios);
  log("merge by e-mail");
  results.mergeEmail = await withCpu(
    server,
    pids,
    async () =>
      summarize(
        "GET /v1/merge/email:…?format=html",
        await rotatingGet(base, (u) => `/v1/merge/email:bench-${u}@example.com?format=html`, PEOPLE),
      ),
    perRequest,
  );

  const events = (n) => (r) => r.okRequests * n;
  await warm(base, profilePaths("shopper", PEOPLE));
  log(`ingest, browser-like: 20 events from one person per request, ${PEOPLE} people`);
  results.ingestBrowser = await withCpu(
    server,
    pids,
    async () =>
      summarize(
        `POST /v1/batch browser-like (20 events, 1 person; ${PEOPLE} people)`,
        await batches(base, (s) => visitEvents(`shopper-${s % PEOPLE}`, 20, s * 20, "browser")),
        20,
      ),
    events(20),
  );
  await waitForDrain(base, E2E_KEYS.apiKey);
  // Here rather than last: after the 20,000 new people, twenty backfills over every profile outlast the wait for
  // them. Its backfills and deletions weigh on the scenarios after it (docs/performance.md, "Latest run").
  results.segments = await measureSegments(server, pids);
  results.trackingPlan = await measureTrackingPlan(server, pids);

  await warm(base, profilePaths("server", PEOPLE));
  const before = await sinkCounters(base, E2E_KEYS.apiKey);
  log("ingest, server-like: 100 events across 50 people per request");
  results.ingestServer = await withCpu(
    server,
    pids,
    async () =>
      summarize(
        `POST /v1/batch server-like (100 events, 50 people; ${PEOPLE} people)`,
        await batches(base, (s) => {
          const batch = [];
          for (let u = 0; u < 50; u++) {
            batch.push(...visitEvents(`server-${(s * 50 + u) % PEOPLE}`, 2, s * 100 + u * 2, "server"));
          }
          return batch;
        }),
        100,
      ),
    events(100),
  );
  const drainSeconds = await waitForDrain(base, E2E_KEYS.apiKey);
  const after = await sinkCounters(base, E2E_KEYS.apiKey);
  const written = after.events - before.events;
  results.sinkAfterServerLike = {
    drainSecondsAfterLoad: drainSeconds,
    eventsWritten: written,
    consumerBatches: after.batches - before.batches,
    statementsPer1000Events:
      written > 0 ? Math.round(((after.statements - before.statements) / written) * 10000) / 10 : null,
    rowsPerEvent: written > 0 ? Math.round(((after.rows - before.rows) / written) * 100) / 100 : null,
  };

  await warm(base, profilePaths("wide", WIDE));
  log(`ingest, browser-like over ${WIDE} people`);
  results.ingestWide = await withCpu(
    server,
    pids,
    async () =>
      summarize(
        `POST /v1/batch browser-like (20 events, 1 person; ${WIDE} people)`,
        await batches(base, (s) => visitEvents(`wide-${s % WIDE}`, 20, s * 20, "wide")),
        20,
      ),
    events(20),
  );
  await waitForDrain(base, E2E_KEYS.apiKey);

  log("sink freshness, idle");
  const freshnessIdle = await probeFreshness({ base, persistDir: server.persistDir, writeAuth, label: "idle" });
  const halfRate = Math.max(1, Math.round(results.ingestBrowser.requestsPerSecond / 2));
  log(`sink freshness at half the browser-like capacity (${halfRate} requests/s)`);
  let halfLoad;
  const freshnessHalf = await probeFreshness({
    base,
    persistDir: server.persistDir,
    writeAuth,
    label: "half",
    during: async () => {
      halfLoad = summarize(
        `POST /v1/batch browser-like at ${halfRate} req/s`,
        await batches(base, (s) => visitEvents(`shopper-${s % PEOPLE}`, 20, s * 20, "half"), { overallRate: halfRate }),
        20,
      );
    },
  });
  results.freshness = { idle: freshnessIdle, halfCapacity: { ...freshnessHalf, load: halfLoad } };
  await waitForDrain(base, E2E_KEYS.apiKey);

  results.newPeople = await manyNewPeople(base);
  results.memoryMiB = pids.map(rssMiB);
  return results;
}

/**
 * Browser-like ingest over the 1,000 shoppers without something defined and
 * with it, alternating: without, with, without, … (`rounds` "with" rounds),
 * each "with" compared against the mean of the rounds either side of it, so
 * the machine's drift shows rather than counts. `define` returns once what it
 * defined applies everywhere; the warm-up reads before each round catch every
 * person up, so the measured batches pay only what each event costs.
 */
async function alternating(server, pids, { what, rounds, define, remove }) {
  const base = server.url;
  const run = (label) =>
    withCpu(
      server,
      pids,
      async () =>
        summarize(
          `POST /v1/batch browser-like, ${label}`,
          await batches(base, (s) => visitEvents(`shopper-${s % PEOPLE}`, 20, s * 20, `alternating-${label}`)),
          20,
        ),
      (r) => r.okRequests * 20,
    );
  const without = [];
  const withIt = [];
  const defineSeconds = [];
  await warm(base, profilePaths("shopper", PEOPLE));
  log(`ingest, browser-like, without ${what} (round 0)`);
  without.push(await run(`without ${what} (0)`));
  await waitForDrain(base, E2E_KEYS.apiKey);
  for (let round = 1; round <= rounds; round++) {
    log(`defining ${what}…`);
    const started = Date.now();
    await define();
    defineSeconds.push(Math.round((Date.now() - started) / 100) / 10);
    await waitForDrain(base, E2E_KEYS.apiKey);
    await warm(base, profilePaths("shopper", PEOPLE));
    log(`ingest, browser-like, with ${what} (round ${round} of ${rounds})`);
    withIt.push(await run(`with ${what} (${round})`));
    await waitForDrain(base, E2E_KEYS.apiKey);
    await remove();
    await warm(base, profilePaths("shopper", PEOPLE));
    log(`ingest, browser-like, without ${what} (round ${round} of ${rounds})`);
    without.push(await run(`without ${what} (${round})`));
    await waitForDrain(base, E2E_KEYS.apiKey);
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const around = (i, pick) => (pick(without[i]) + pick(without[i + 1])) / 2;
  const cpuRatios = withIt.map((w, i) =>
    ratio(
      w.cpu.microsPerUnit,
      around(i, (x) => x.cpu.microsPerUnit),
    ),
  );
  const throughputRatios = withIt.map((w, i) =>
    ratio(
      w.eventsPerSecond,
      around(i, (x) => x.eventsPerSecond),
    ),
  );
  return {
    defineSeconds,
    without,
    with: withIt,
    cpuRatios,
    throughputRatios,
    cpuRatio: median(cpuRatios),
    throughputRatio: median(throughputRatios),
  };
}

/** 20 audiences and 20 computed traits (bench/segments.mjs); defining them starts backfills, which finish first. */
async function measureSegments(server, pids) {
  const result = await alternating(server, pids, {
    what: `${SEGMENT_COUNTS.traits} computed traits and ${SEGMENT_COUNTS.audiences} audiences`,
    rounds: SEGMENT_ROUNDS,
    define: () => defineSegments(server.url, apiHeaders),
    remove: () => removeSegments(server.url, apiHeaders),
  });
  return { ...SEGMENT_COUNTS, backfillSeconds: result.defineSeconds, ...result };
}

/** A 30-event tracking plan (bench/tracking-plan.mjs), every visit event checked against it. */
async function measureTrackingPlan(server, pids) {
  const result = await alternating(server, pids, {
    what: `a ${PLANNED_EVENTS}-event tracking plan`,
    rounds: SEGMENT_ROUNDS,
    define: () => definePlan(server.url, apiHeaders),
    remove: () => removePlan(server.url, apiHeaders),
  });
  return { plannedEvents: PLANNED_EVENTS, ...result };
}

/** NEW_PEOPLE people never seen before, 5 events each, one person per request, by a client honouring Retry-After. */
async function manyNewPeople(base) {
  log(`${NEW_PEOPLE} new people × 5 events, ${CONNECTIONS} senders honouring Retry-After`);
  const start = await sinkCounters(base, E2E_KEYS.apiKey);
  const stats = { fiveXx: 0, other: 0, networkErrors: 0 };
  const started = Date.now();
  const tasks = Array.from(
    { length: NEW_PEOPLE },
    (_, u) => () => postHonouringRetryAfter(base, visitEvents(`new-${runId}-${u}`, 5, u * 5, "new"), stats),
  );
  await pooled(tasks, CONNECTIONS);
  const sentSeconds = (Date.now() - started) / 1000;
  const expected = start.events + NEW_PEOPLE * 5;
  const lastSent = Date.now();
  let inWarehouseAfterSeconds = null;
  let seen = start.events;
  while (Date.now() - lastSent < 180_000) {
    seen = (await sinkCounters(base, E2E_KEYS.apiKey)).events;
    if (seen >= expected) {
      inWarehouseAfterSeconds = Math.round((Date.now() - lastSent) / 100) / 10;
      break;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return {
    people: NEW_PEOPLE,
    events: NEW_PEOPLE * 5,
    sentSeconds: Math.round(sentSeconds * 10) / 10,
    eventsPerSecond: Math.round((NEW_PEOPLE * 5) / sentSeconds),
    refused5xx: stats.fiveXx,
    refusedOther: stats.other,
    networkErrors: stats.networkErrors,
    batchesGivenUp: stats.gaveUp ?? 0,
    eventsInWarehouse: seen - start.events,
    inWarehouseAfterSeconds,
  };
}

/** A block of the size the product's merge answers, for the Redis baseline to serve precomputed. */
function blockFor(userId) {
  const cards = catalog
    .slice(0, 4)
    .map(
      (p) =>
        `<td style="padding:8px"><a href="https://shop.example.com/p/${p.id}?u=${userId}"><img src="${p.imageUrl}" width="140" alt="${p.title}"></a><br>${p.title}<br>${p.price} ${p.currency}</td>`,
    )
    .join("");
  return `<table role="presentation" width="100%"><tr><td colspan="4"><strong>Picked for you, Reader</strong></td></tr><tr>${cards}</tr></table>`;
}

async function measureBaselines(scratch) {
  log(`storage floor: one SQLite upsert per request over ${PEOPLE} actors, same runtime`);
  const floor = await startStorageFloor({ persistDir: join(scratch, "floor") });
  let storageFloor;
  try {
    storageFloor = await measureStorageFloor({
      url: floor.url,
      actors: PEOPLE,
      seconds: SECONDS,
      connections: CONNECTIONS,
    });
  } finally {
    await floor.stop();
  }
  log("Node + Redis serving layer: the same merge block, precomputed");
  const ids = Array.from({ length: PEOPLE }, (_, u) => `bench-${u}`);
  const redis = await startRedisBaseline({ profiles: ids, blockFor, apiKey: E2E_KEYS.apiKey });
  let redisServing;
  try {
    redisServing = await measureRedis({
      url: redis.url,
      paths: ids.map((id) => `/v1/merge/user_id:${id}?format=html`),
      seconds: SECONDS,
      connections: CONNECTIONS,
      headers: { authorization: `Bearer ${E2E_KEYS.apiKey}` },
    });
  } finally {
    await redis.stop();
  }
  return { storageFloor, redisServing };
}

function ratio(a, b) {
  return b ? Math.round((a / b) * 100) / 100 : null;
}

function goalsOf(r, b) {
  const ok = (x) => x.non2xx + x.errors === 0;
  const list = [
    ["merge ÷ healthz", "≥ 0.35", ratio(r.merge.requestsPerSecond, r.healthz.requestsPerSecond), (v) => v >= 0.35],
    [
      "merge ÷ Node + Redis serving layer",
      "≥ 0.35",
      ratio(r.merge.requestsPerSecond, b.redisServing.requestsPerSecond),
      (v) => v >= 0.35,
    ],
    [
      "merge p99",
      "≤ 30 ms, 0 errors",
      `${r.merge.latencyMs.p99} ms, ${r.merge.non2xx + r.merge.errors} failed`,
      () => r.merge.latencyMs.p99 <= 30 && ok(r.merge),
    ],
    [
      "browser-like ingest, 1,000 people",
      "≥ 10,000 events/s, 0 non-2xx",
      `${r.ingestBrowser.eventsPerSecond} events/s, ${r.ingestBrowser.non2xx} non-2xx`,
      () => r.ingestBrowser.eventsPerSecond >= 10_000 && ok(r.ingestBrowser),
    ],
    [
      "server-like ingest, 1,000 people",
      "≥ 3,000 events/s, 0 non-2xx",
      `${r.ingestServer.eventsPerSecond} events/s, ${r.ingestServer.non2xx} non-2xx`,
      () => r.ingestServer.eventsPerSecond >= 3_000 && ok(r.ingestServer),
    ],
    [
      `browser-like ingest, ${WIDE} people`,
      "0 non-2xx",
      `${r.ingestWide.eventsPerSecond} events/s, ${r.ingestWide.non2xx} non-2xx`,
      () => ok(r.ingestWide),
    ],
    [
      `${NEW_PEOPLE} new people × 5 events`,
      "≤ 180 s, 0 5xx, all in D1 ≤ 60 s after",
      `${r.newPeople.sentSeconds} s, ${r.newPeople.refused5xx} 5xx, in D1 after ${r.newPeople.inWarehouseAfterSeconds ?? "—"} s`,
      () =>
        r.newPeople.sentSeconds <= 180 &&
        r.newPeople.refused5xx === 0 &&
        r.newPeople.inWarehouseAfterSeconds !== null &&
        r.newPeople.inWarehouseAfterSeconds <= 60,
    ],
    [
      "sink freshness p99 at half capacity",
      "≤ 2,000 ms",
      `${r.freshness.halfCapacity.p99Ms ?? "—"} ms`,
      () => (r.freshness.halfCapacity.p99Ms ?? Number.POSITIVE_INFINITY) <= 2_000,
    ],
    [
      "CPU per ingested event (browser-like)",
      "≤ 100 µs",
      `${r.ingestBrowser.cpu.microsPerUnit} µs`,
      () => r.ingestBrowser.cpu.microsPerUnit <= 100,
    ],
    ["CPU per merge call", "≤ 1,000 µs", `${r.merge.cpu.microsPerUnit} µs`, () => r.merge.cpu.microsPerUnit <= 1_000],
    [
      "merge in an experiment ÷ outside, CPU per call (median of alternating rounds)",
      "≤ 1.10",
      `${r.experimentOverhead.medianCpuRatio} (rounds: ${r.experimentOverhead.cpuRatios.join(", ")})`,
      () => r.experimentOverhead.medianCpuRatio <= 1.1,
    ],
    [
      `ingest with ${r.segments.audiences} audiences and ${r.segments.traits} computed traits ÷ without, CPU per event (median of alternating rounds)`,
      "≤ 1.15",
      `${r.segments.cpuRatio} (rounds: ${r.segments.cpuRatios.join(", ")})`,
      () => r.segments.cpuRatio <= 1.15,
    ],
    [
      `ingest with a ${r.trackingPlan.plannedEvents}-event tracking plan ÷ without, CPU per event (median of alternating rounds)`,
      "≤ 1.20",
      `${r.trackingPlan.cpuRatio} (rounds: ${r.trackingPlan.cpuRatios.join(", ")})`,
      () => r.trackingPlan.cpuRatio <= 1.2,
    ],
    [
      "merge in an experiment ÷ outside, req/s (median of alternating rounds)",
      "≥ 0.90",
      `${r.experimentOverhead.medianThroughputRatio} (rounds: ${r.experimentOverhead.throughputRatios.join(", ")})`,
      () => r.experimentOverhead.medianThroughputRatio >= 0.9,
    ],
  ];
  return list.map(([goal, target, measured, met]) => ({ goal, target, measured, met: Boolean(met(measured)) }));
}

function table(run) {
  const r = run.results;
  const b = run.baselines;
  const row = (x, cpuUnit = "") =>
    `| ${x.name} | ${fmt(x.requestsPerSecond)} | ${fmt(x.eventsPerSecond)} | ${x.latencyMs.p50} | ${x.latencyMs.p99} | ${x.non2xx + x.errors} | ${x.cpu ? `${fmt(x.cpu.microsPerUnit)}${cpuUnit}` : "—"} |`;
  const floorRow = `| storage floor: one SQLite upsert per request, ${PEOPLE} actors (same runtime) | ${fmt(b.storageFloor.requestsPerSecond)} | — | ${b.storageFloor.latencyMs.p50} | ${b.storageFloor.latencyMs.p99} | ${b.storageFloor.non2xx + b.storageFloor.errors} | — |`;
  const redisRow = `| Node + Redis serving layer, same merge block precomputed | ${fmt(b.redisServing.requestsPerSecond)} | — | ${b.redisServing.latencyMs.p50} | ${b.redisServing.latencyMs.p99} | ${b.redisServing.non2xx + b.redisServing.errors} | — |`;
  const f = r.freshness;
  return [
    `Run ${run.date} · \`npm start\` runtime · ${run.machine.cores} cores (${run.machine.cpu}) · Node ${run.machine.node} · ` +
      `${run.settings.seconds} s per scenario · ${run.settings.connections} connections · autocannon on the same machine`,
    "",
    "| scenario | req/s | events/s | p50 ms | p99 ms | failed | runtime CPU µs per request / event |",
    "|---|---:|---:|---:|---:|---:|---:|",
    row(r.healthz),
    row(r.profileRead),
    row(r.merge),
    row(r.mergeExperiment),
    row(r.mergeEmail),
    redisRow,
    row(r.ingestBrowser, " /event"),
    row(r.ingestServer, " /event"),
    row(r.ingestWide, " /event"),
    floorRow,
    "",
    ...segmentLines(r.segments),
    "",
    ...trackingPlanLines(r.trackingPlan),
    "",
    `Browser-like ingest commits ${fmt(r.ingestBrowser.requestsPerSecond)} actor batches a second = ${ratio(r.ingestBrowser.requestsPerSecond, b.storageFloor.requestsPerSecond)} of the storage floor; ` +
      `merge = ${ratio(r.merge.requestsPerSecond, r.healthz.requestsPerSecond)} of healthz, ${ratio(r.merge.requestsPerSecond, r.profileRead.requestsPerSecond)} of a bare profile read, ${ratio(r.merge.requestsPerSecond, b.redisServing.requestsPerSecond)} of the Redis serving layer.`,
    "",
    `${fmt(r.newPeople.people)} new people × 5 events by ${run.settings.connections} senders honouring Retry-After: sent in ${r.newPeople.sentSeconds} s (${fmt(r.newPeople.eventsPerSecond)} events/s), ` +
      `${fmt(r.newPeople.refused5xx)} answers 5xx (then retried), ${fmt(r.newPeople.networkErrors)} network errors, ${fmt(r.newPeople.batchesGivenUp)} batches given up after 100 tries; ${fmt(r.newPeople.eventsInWarehouse)} of ${fmt(r.newPeople.events)} events in D1 ` +
      `${r.newPeople.inWarehouseAfterSeconds === null ? "not all within 180 s" : `${r.newPeople.inWarehouseAfterSeconds} s after the last request`}.`,
    "",
    "Sink freshness (an event's 2xx → its row in D1; probe events every 200 ms):",
    "",
    "| when | probes | in D1 | p50 ms | p99 ms | max ms |",
    "|---|---:|---:|---:|---:|---:|",
    `| idle | ${f.idle.probes} | ${f.idle.inWarehouse} | ${f.idle.p50Ms} | ${f.idle.p99Ms} | ${f.idle.maxMs} |`,
    `| browser-like load at ${f.halfCapacity.load?.requestsPerSecond ?? "—"} req/s (half capacity) | ${f.halfCapacity.probes} | ${f.halfCapacity.inWarehouse} | ${f.halfCapacity.p50Ms} | ${f.halfCapacity.p99Ms} | ${f.halfCapacity.maxMs} |`,
    "",
    `After server-like load the consumer wrote ${fmt(r.sinkAfterServerLike.eventsWritten)} events in ${fmt(r.sinkAfterServerLike.consumerBatches)} batches, ` +
      `${r.sinkAfterServerLike.statementsPer1000Events} D1 statements per 1,000 events, and stopped ${r.sinkAfterServerLike.drainSecondsAfterLoad} s after the load ended. ` +
      `workerd resident memory at the end: ${r.memoryMiB.join(", ")} MiB.`,
    "",
    "Cloudflare bill per million, from the CPU measured here and published prices (see below):",
    "",
    "| per million | Workers requests | Workers CPU | actor requests | Queue operations | D1 rows written | total |",
    "|---|---:|---:|---:|---:|---:|---:|",
    ...run.bill.map(
      (x) =>
        `| ${x.what} | $${x.workerRequests} | $${x.workerCpu} | $${x.actorRequests} | $${x.queueOperations} | $${x.d1RowsWritten} | **$${x.total}** |`,
    ),
    "",
    "| goal | target | measured | met |",
    "|---|---|---|---|",
    ...run.goals.map((g) => `| ${g.goal} | ${g.target} | ${g.measured} | ${g.met ? "yes" : "**no**"} |`),
  ].join("\n");
}

/** The audiences comparison in words, for the log and the report. */
function segmentLines(x) {
  const seq = (pick) =>
    x.without.map((w, i) => (i < x.with.length ? `${pick(w)} → **${pick(x.with[i])}** → ` : pick(w))).join("");
  return [
    `Browser-like ingest without, **with** ${x.audiences} audiences and ${x.traits} computed traits, alternating (backfills took ${x.backfillSeconds.join(", ")} s):`,
    `CPU µs per event ${seq((r) => r.cpu.microsPerUnit)}: with ÷ the rounds either side ${x.cpuRatios.join(", ")} (median ${x.cpuRatio});`,
    `events/s ${seq((r) => fmt(r.eventsPerSecond))}: ${x.throughputRatios.join(", ")} (median ${x.throughputRatio}).`,
  ];
}

function trackingPlanLines(x) {
  const seq = (pick) =>
    x.without.map((w, i) => (i < x.with.length ? `${pick(w)} → **${pick(x.with[i])}** → ` : pick(w))).join("");
  return [
    `Browser-like ingest without, **with** a ${x.plannedEvents}-event tracking plan checking every event, alternating:`,
    `CPU µs per event ${seq((r) => r.cpu.microsPerUnit)}: with ÷ the rounds either side ${x.cpuRatios.join(", ")} (median ${x.cpuRatio});`,
    `events/s ${seq((r) => fmt(r.eventsPerSecond))}: ${x.throughputRatios.join(", ")} (median ${x.throughputRatio}).`,
  ];
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

// The runtime's own output, for what the figures alone do not say (a restart, an error).
const serverLog = join(root, ".wrangler", "bench-server.log");
writeFileSync(serverLog, "");
const server = await startProductionServer({ log: (line) => appendFileSync(serverLog, line) });
/** BENCH_ONLY=segments or tracking-plan: that comparison alone, over 1,000 people. */
const ONLY_COMPARISONS = {
  segments: { measure: measureSegments, lines: segmentLines },
  "tracking-plan": { measure: measureTrackingPlan, lines: trackingPlanLines },
};
if (ONLY !== null && ONLY in ONLY_COMPARISONS) {
  const { measure, lines } = ONLY_COMPARISONS[ONLY];
  let result;
  try {
    await seedPeople(server.url, "shopper", PEOPLE);
    await waitForDrain(server.url, E2E_KEYS.apiKey, 300_000);
    const pids = workerdPids(server.pid);
    result = await measure(server, pids);
  } finally {
    await server.stop();
  }
  const dir = join(root, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${ONLY}-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ date: new Date().toISOString(), cpus: cpus().length, [ONLY]: result }, null, 2)}\n`,
  );
  log(`\n${lines(result).join("\n")}\n\nresults: ${file}`);
  process.exit(0);
}
let results;
try {
  log(
    `npm start runtime on ${server.url}; seeding ${PEOPLE} profiles to read and ${PEOPLE + PEOPLE + WIDE} people to write to`,
  );
  const put = await fetch(`${server.url}/v1/catalog/products`, {
    method: "PUT",
    headers: apiHeaders,
    body: JSON.stringify({ products: catalog }),
  });
  if (!put.ok) throw new Error(`catalog load failed: ${put.status}`);
  await seedPeople(server.url, "bench", PEOPLE, true);
  await seedPeople(server.url, "shopper", PEOPLE);
  await seedPeople(server.url, "server", PEOPLE);
  await seedPeople(server.url, "wide", WIDE);
  log(`sink drained ${await waitForDrain(server.url, E2E_KEYS.apiKey, 300_000)} s after seeding`);
  results = await measureProduct(server);
} finally {
  await server.stop();
}
const baselines = await measureBaselines(join(root, ".wrangler", "bench-baselines"));
const run = {
  date: new Date().toISOString(),
  machine: {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? "unknown",
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  },
  settings: { seconds: SECONDS, connections: CONNECTIONS, people: PEOPLE, wide: WIDE, newPeople: NEW_PEOPLE },
  results,
  baselines,
};
run.bill = billPerMillion(results);
run.goals = goalsOf(results, baselines);
const file = writeReport(run);
log(`\n${table(run)}\n\nresults: ${file}`);
