#!/usr/bin/env node
/**
 * `npm run profile`: a CPU profile of `npm start`'s runtime under load, to
 * decide what to optimise (profile before you optimise). It starts the
 * production server (scripts/start.mjs) with workerd's DevTools inspector on
 * a free 127.0.0.1 port (INSPECTOR_PORT), loads the demo catalog, seeds
 * PEOPLE people with a few events each, and for each scenario
 *
 *   - `ingest`: POST /v1/batch browser-like, 20 events for one person per
 *     request, rotating over the PEOPLE people;
 *   - `ingest-segments`: the same ingest with 20 audiences and 20 computed
 *     traits defined (bench/segments.mjs; they stay defined for the
 *     scenarios after it);
 *   - `merge`: GET /v1/merge/user_id:<id>?format=html, rotating over them;
 *   - `merge-new`: the merge call for people never seen before, inside an
 *     experiment, so each call starts a new actor and records an exposure
 *     (an ESP's first send to a list imported elsewhere);
 *
 * warms the actors, runs PROFILE_WARMUP_SECONDS of unprofiled load (so the
 * profile shows optimised code, not the JIT getting there), then samples the
 * Worker's isolate over the Chrome DevTools Protocol while autocannon runs
 * PROFILE_SECONDS with PROFILE_CONNECTIONS connections. In workerd the actors
 * (and the Queue consumer writing to D1) run in the Worker's isolate, so its
 * profile holds them too; Miniflare's own entry worker and simulators are
 * isolates of their own (PROFILE_TARGETS adds any of them by id, e.g.
 * `core:entry`; `GET /json` on the inspector lists them).
 *
 * Each profile goes to `bench/results/profile-<scenario>[-<target>]-<timestamp>.cpuprofile`
 * (open it in Chrome DevTools or speedscope); the summary printed here maps
 * the bundle back to the sources through wrangler's source map.
 *
 * Environment: PROFILE_SECONDS (default 10), PROFILE_WARMUP_SECONDS (default
 * 2), PROFILE_CONNECTIONS (default 32), PROFILE_INTERVAL_US (sampling
 * interval, default 100), PROFILE_TARGETS (extra inspector targets, comma
 * separated), PROFILE_PEOPLE (default 1000), PROFILE_SCENARIOS (names, comma
 * separated; default all). Needs Node's WebSocket: run
 * with `--experimental-websocket` on Node 20 (`npm run profile` does).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { SourceMap } from "node:module";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { E2E_KEYS, freePort, startProductionServer } from "../scripts/local-server.mjs";
import { waitForDrain } from "./freshness.mjs";
import { defineSegments } from "./segments.mjs";
import { catalog, runId, visitEvents } from "./visits.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const SECONDS = Number(process.env.PROFILE_SECONDS ?? 10);
const WARMUP_SECONDS = Number(process.env.PROFILE_WARMUP_SECONDS ?? 2);
const CONNECTIONS = Number(process.env.PROFILE_CONNECTIONS ?? 32);
const INTERVAL_US = Number(process.env.PROFILE_INTERVAL_US ?? 100);
/**
 * The actors release themselves after 8 s idle on `npm start`
 * (ACTOR_IDLE_RELEASE_MS): when the load reaches each person less often than
 * that, most requests pay an actor's start-up, and the profile shows it.
 */
const PEOPLE = Number(process.env.PROFILE_PEOPLE ?? 1000);
/** The Worker's isolate as workerd's inspector names it: Miniflare's `core:user:` and the worker's name. */
const WORKER_TARGET = "core:user:edge-profiles";
const EXTRA_TARGETS = (process.env.PROFILE_TARGETS ?? "")
  .split(",")
  .map((t) => t.trim())
  .filter(Boolean);
/** Functions of the actors that must appear in an ingest profile for it to be the whole story. */
const ACTOR_MARKERS = ["ingest", "ingestNow", "applyEvents"];

const writeAuth = `Basic ${Buffer.from(`${E2E_KEYS.writeKey}:`).toString("base64")}`;
const apiAuth = `Bearer ${E2E_KEYS.apiKey}`;
const jsonWrite = { authorization: writeAuth, "content-type": "application/json" };
const stamp = new Date().toISOString().replace(/[:.]/g, "-");

function log(line = "") {
  process.stdout.write(`${line}\n`);
}

if (typeof WebSocket === "undefined") {
  console.error("no global WebSocket: run with `node --experimental-websocket` (npm run profile does)");
  process.exit(1);
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

/** `fetch`, asked again (five times at most) when the connection drops, as a client of a busy server would. */
async function fetchRetrying(url, init) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetch(url, init);
    } catch (err) {
      if (attempt >= 5) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** Posts a batch, waiting what a 429 or 503 says a few times over (seeding must not fail on back-pressure). */
async function postBatch(base, batch) {
  for (let attempt = 0; attempt < 20; attempt++) {
    const res = await fetchRetrying(`${base}/v1/batch`, {
      method: "POST",
      headers: { ...jsonWrite, connection: "close" },
      body: JSON.stringify({ batch }),
    });
    const body = await res.text();
    if (res.ok) return;
    if (res.status !== 429 && res.status < 500) throw new Error(`seeding batch refused: ${res.status} ${body}`);
    await new Promise((r) => setTimeout(r, Number(res.headers.get("retry-after") ?? 1) * 1000));
  }
  throw new Error("a seeding batch was not accepted after 20 attempts");
}

/** PEOPLE people named `profile-<i>`, 50 per request, each identified (for the merge greeting) with 4 events. */
async function seedPeople(base) {
  const tasks = [];
  for (let first = 0; first < PEOPLE; first += 50) {
    tasks.push(async () => {
      const batch = [];
      for (let u = first; u < Math.min(first + 50, PEOPLE); u++) {
        const userId = `profile-${u}`;
        batch.push({
          type: "identify",
          userId,
          messageId: `${runId}-id-${u}`,
          traits: { firstName: `Reader${u}`, email: `profile-${u}@example.com` },
        });
        batch.push(...visitEvents(userId, 4, u * 13, "seed"));
      }
      await postBatch(base, batch);
    });
  }
  await pooled(tasks, 4);
}

/** Touches each person's profile once, so the load meets live actors (they release themselves when idle). */
async function warmActors(base) {
  await pooled(
    Array.from({ length: PEOPLE }, (_, u) => async () => {
      const res = await fetchRetrying(`${base}/v1/profiles/user_id:profile-${u}`, {
        headers: { authorization: apiAuth },
      });
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`warm-up of profile-${u} failed: ${res.status}`);
    }),
    8,
  );
}

/** One count over warm-up and profile: every event is new, none acknowledged as a duplicate. */
let ingestSeq = 0;

/** Autocannon options for GET requests whose path for the i-th request is `pathOf(i)`. */
function rotatingGets(base, pathOf) {
  let i = 0;
  return {
    url: base,
    headers: { authorization: apiAuth },
    requests: [
      {
        method: "GET",
        setupRequest: (req) => {
          req.path = pathOf(i++);
          return req;
        },
      },
    ],
  };
}
/** The scenarios: autocannon options for `base`, and what one request carries. */
const scenarios = [
  {
    name: "ingest",
    title: `POST /v1/batch browser-like (20 events, 1 person per request; ${PEOPLE} people)`,
    options: (base) => {
      return {
        url: `${base}/v1/batch`,
        headers: jsonWrite,
        requests: [
          {
            method: "POST",
            setupRequest: (req) => {
              const s = ingestSeq++;
              req.body = JSON.stringify({ batch: visitEvents(`profile-${s % PEOPLE}`, 20, s * 20, "load") });
              return req;
            },
          },
        ],
      };
    },
  },
  {
    name: "ingest-segments",
    title: `POST /v1/batch browser-like with 20 audiences and 20 computed traits (${PEOPLE} people)`,
    setup: (base) => defineSegments(base, { authorization: apiAuth, "content-type": "application/json" }),
    options: (base) => scenarios.find((x) => x.name === "ingest").options(base),
  },
  {
    name: "merge",
    title: `GET /v1/merge/user_id:…?format=html (${PEOPLE} people)`,
    options: (base) => rotatingGets(base, (i) => `/v1/merge/user_id:profile-${i % PEOPLE}?format=html`),
  },
  {
    name: "merge-new",
    title:
      "GET /v1/merge/user_id:…?format=html&campaign= for people never seen, inside an experiment (each call starts an actor and records an exposure)",
    setup: (base) => profileExperiment(base),
    options: (base) =>
      rotatingGets(base, (i) => `/v1/merge/user_id:recipient-${runId}-${i}?format=html&campaign=profile-aa`),
  },
  {
    name: "merge-experiment",
    title: `GET /v1/merge/user_id:…?format=html&campaign= inside an experiment (${PEOPLE} people, exposures already recorded)`,
    setup: async (base) => {
      await profileExperiment(base);
      // Each person's first exposure is a write; the profile is of the calls after it.
      for (let u = 0; u < PEOPLE; u++) {
        const res = await fetch(`${base}/v1/merge/user_id:profile-${u}?format=html&campaign=profile-aa`, {
          headers: { authorization: apiAuth },
        });
        await res.arrayBuffer();
      }
    },
    options: (base) =>
      rotatingGets(base, (i) => `/v1/merge/user_id:profile-${i % PEOPLE}?format=html&campaign=profile-aa`),
  },
];

/** The experiment the merge-new and merge-experiment scenarios run in (created once). */
async function profileExperiment(base) {
  const res = await fetch(`${base}/v1/experiments`, {
    method: "POST",
    headers: { authorization: apiAuth, "content-type": "application/json" },
    body: JSON.stringify({
      id: "profile-aa",
      campaign: "profile-aa",
      control: "a",
      variants: [
        { key: "a", weight: 1, strategy: "personalized" },
        { key: "b", weight: 1, strategy: "personalized" },
      ],
    }),
  });
  if (res.status !== 201 && res.status !== 409)
    throw new Error(`experiment not created: ${res.status} ${await res.text()}`);
}

/** PROFILE_SCENARIOS: the scenarios to run, by name (default: all). */
const chosen = (process.env.PROFILE_SCENARIOS ?? "")
  .split(",")
  .map((n) => n.trim())
  .filter(Boolean);

/** Failed responses seen by the running load: status and the start of the body, a few. */
let failures = [];

function load(opts, seconds) {
  failures = [];
  const requests = opts.requests.map((r) => ({
    ...r,
    onResponse: (status, body) => {
      if (status >= 400 && failures.length < 3) failures.push({ status, body: String(body).slice(0, 200) });
    },
  }));
  return autocannon({ connections: CONNECTIONS, duration: seconds, ...opts, requests });
}

/** A minimal Chrome DevTools Protocol client: one WebSocket, commands by id, each with a deadline. */
async function connectCdp(url) {
  const ws = new WebSocket(url);
  const pending = new Map();
  let nextId = 0;
  await new Promise((resolve, reject) => {
    ws.addEventListener("open", resolve, { once: true });
    ws.addEventListener("error", () => reject(new Error(`inspector connection to ${url} failed`)), { once: true });
  });
  ws.addEventListener("message", (event) => {
    const msg = JSON.parse(typeof event.data === "string" ? event.data : Buffer.from(event.data).toString("utf8"));
    const waiter = msg.id !== undefined ? pending.get(msg.id) : undefined;
    if (!waiter) return;
    pending.delete(msg.id);
    if (msg.error) waiter.reject(new Error(`${waiter.method}: ${msg.error.message}`));
    else waiter.resolve(msg.result);
  });
  ws.addEventListener("close", () => {
    for (const w of pending.values()) w.reject(new Error(`inspector closed during ${w.method}`));
    pending.clear();
  });
  return {
    send(method, params = {}, timeoutMs = 60_000) {
      const id = ++nextId;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${method}: no answer within ${timeoutMs / 1000} s`));
        }, timeoutMs);
        const done = (f) => (v) => {
          clearTimeout(timer);
          f(v);
        };
        pending.set(id, { method, resolve: done(resolve), reject: done(reject) });
        ws.send(JSON.stringify({ id, method, params }));
      });
    },
    close: () => ws.close(),
  };
}

/** workerd's inspector targets (`GET /json`), by id. */
async function listTargets(inspectorPort) {
  const res = await fetch(`http://127.0.0.1:${inspectorPort}/json`);
  if (!res.ok) throw new Error(`inspector /json answered ${res.status}`);
  return await res.json();
}

/**
 * Maps `index.js:line:col` of the bundle back to where it came from: the
 * source file and line through wrangler's source map, and the module through
 * the `// node_modules/<package>/…` or `// src/…` comment esbuild puts at the
 * start of each module (some packages' own maps lose their package name:
 * drizzle-orm's sources come out as `node_modules/src/…`).
 */
function bundleMapper() {
  const bundle = join(root, ".wrangler", "start-bundle", "index.js");
  const mapPath = `${bundle}.map`;
  if (!existsSync(mapPath)) return () => null;
  const map = new SourceMap(JSON.parse(readFileSync(mapPath, "utf8")));
  const lines = readFileSync(bundle, "utf8").split("\n");
  const sections = [];
  lines.forEach((text, line) => {
    const m = /^\/\/ ((?:node_modules|src)\/\S+)$/.exec(text);
    if (m) sections.push({ line, module: m[1] });
  });
  const moduleAt = (line) => {
    let lo = 0;
    let hi = sections.length - 1;
    let found = null;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (sections[mid].line <= line) {
        found = sections[mid].module;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  };
  /** `column` null: the line's first code (a profile's line ticks carry no column). */
  return (line, column) => {
    const module = moduleAt(line);
    const entry = map.findEntry(line, column ?? /^\s*/.exec(lines[line] ?? "")[0].length);
    let source = entry?.originalSource?.replace(/^(\.\.\/)+/, "") ?? null;
    const pkg = module && packageOf(module);
    if (source?.startsWith("node_modules/src/") && pkg)
      source = source.replace("node_modules/", `node_modules/${pkg}/`);
    return {
      module,
      where: source ? `${source.replace(/^node_modules\//, "")}:${entry.originalLine + 1}` : null,
    };
  };
}

function packageOf(path) {
  return /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1] ?? null;
}

/** Where a module belongs: `src/<dir>`, a package under node_modules, or workerd itself. */
function originOf(module) {
  if (!module) return "(workerd: native APIs and built-ins)";
  const pkg = packageOf(module);
  if (pkg) return pkg;
  const src = /^src\/([^/]+)\//.exec(module);
  if (src) return `src/${src[1]}`;
  return module;
}

const SPECIAL = new Set(["(root)", "(program)", "(idle)", "(garbage collector)"]);

/**
 * Self and inclusive milliseconds per function, from the profile's samples and
 * their time deltas (each sample lasts until the next one, as DevTools counts).
 * Inclusive time counts a sample once per function on its stack, however often
 * the function recurses.
 */
function analyse(profile, mapSource) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const timestamps = [];
  let t = profile.startTime;
  for (const d of profile.timeDeltas) {
    t += d;
    timestamps.push(t);
  }
  const selfUs = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const until = i + 1 < timestamps.length ? timestamps[i + 1] : profile.endTime;
    const us = Math.max(0, until - timestamps[i]);
    selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + us);
  }

  const fns = new Map();
  const fnOf = (node) => {
    const cf = node.callFrame;
    const key = `${cf.functionName}|${cf.url}|${cf.lineNumber}|${cf.columnNumber}`;
    let fn = fns.get(key);
    if (!fn) {
      const name = cf.functionName || "(anonymous)";
      const mapped = cf.url && basename(cf.url) === "index.js" ? mapSource(cf.lineNumber, cf.columnNumber) : null;
      let where = mapped?.where ?? "";
      if (!where && cf.url) where = `${basename(cf.url)}:${cf.lineNumber + 1}`;
      const special = SPECIAL.has(name) && !cf.url;
      let origin = special ? name : originOf(mapped?.module ?? null);
      if (!special && !mapped?.module && cf.url) origin = basename(cf.url);
      fn = {
        name,
        where,
        origin,
        special,
        self: 0,
        total: 0,
        lineTicks: new Map(),
        inBundle: Boolean(mapped),
      };
      fns.set(key, fn);
    }
    return fn;
  };

  let totalUs = 0;
  for (const [id, us] of selfUs) {
    totalUs += us;
    let node = nodes.get(id);
    fnOf(node).self += us;
    const seen = new Set();
    while (node) {
      const fn = fnOf(node);
      if (!seen.has(fn)) {
        seen.add(fn);
        fn.total += us;
      }
      node = nodes.get(parent.get(node.id));
    }
  }
  for (const node of profile.nodes) {
    if (!node.positionTicks?.length) continue;
    const fn = fnOf(node);
    for (const { line, ticks } of node.positionTicks) fn.lineTicks.set(line, (fn.lineTicks.get(line) ?? 0) + ticks);
  }
  // The line a function spends its own time on, when that is not where it starts (an await on an actor call, say).
  for (const fn of fns.values()) {
    const lines = [...fn.lineTicks];
    if (lines.length === 0 || !fn.inBundle) continue;
    const [hotLine, ticks] = lines.reduce((x, y) => (y[1] > x[1] ? y : x));
    const all = lines.reduce((sum, [, t]) => sum + t, 0);
    const hot = mapSource(hotLine - 1, null)?.where;
    if (hot && hot !== fn.where) fn.hot = `${hot} (${Math.round((ticks / all) * 100)}% of its ticks)`;
  }
  const byOrigin = new Map();
  for (const fn of fns.values()) byOrigin.set(fn.origin, (byOrigin.get(fn.origin) ?? 0) + fn.self);
  return { fns: [...fns.values()], totalUs, byOrigin, samples: profile.samples.length };
}

function printSummary(label, a) {
  const ms = (us) => (us / 1000).toFixed(1).padStart(8);
  const pct = (us) => `${((us / (a.totalUs || 1)) * 100).toFixed(1).padStart(5)}%`;
  const row = (fn, us) => `  ${ms(us)} ms ${pct(us)}  ${fn.name.slice(0, 44).padEnd(44)} ${fn.where}`;
  log(`\n── ${label}: ${(a.totalUs / 1000).toFixed(0)} ms sampled, ${a.samples} samples`);
  const share = (name) => a.fns.filter((f) => f.special && f.name === name).reduce((s, f) => s + f.self, 0);
  log(
    `  (idle) ${pct(share("(idle)")).trim()} · (program) ${pct(share("(program)")).trim()} · (garbage collector) ${pct(share("(garbage collector)")).trim()}`,
  );
  log("  top 25 by self time:");
  for (const fn of [...a.fns].sort((x, y) => y.self - x.self).slice(0, 25))
    log(`${row(fn, fn.self)}${fn.hot ? `  · hot: ${fn.hot}` : ""}`);
  log("  top 15 by total (inclusive) time:");
  for (const fn of [...a.fns]
    .filter((f) => f.name !== "(root)")
    .sort((x, y) => y.total - x.total)
    .slice(0, 15))
    log(row(fn, fn.total));
  log("  self time by origin:");
  for (const [origin, us] of [...a.byOrigin].sort((x, y) => y[1] - x[1]).slice(0, 12))
    log(`  ${ms(us)} ms ${pct(us)}  ${origin}`);
}

/** Starts sampling each target; returns a function that stops them all and hands back their profiles. */
async function startProfiling(targets) {
  const sessions = [];
  for (const target of targets) {
    const cdp = await connectCdp(target.webSocketDebuggerUrl);
    await cdp.send("Profiler.enable");
    await cdp.send("Profiler.setSamplingInterval", { interval: INTERVAL_US });
    sessions.push({ target, cdp });
  }
  for (const s of sessions) await s.cdp.send("Profiler.start");
  return async () => {
    const out = [];
    for (const s of sessions) {
      const { profile } = await s.cdp.send("Profiler.stop", {}, 120_000);
      await s.cdp.send("Profiler.disable").catch(() => {});
      s.cdp.close();
      out.push({ target: s.target, profile });
    }
    return out;
  };
}

async function profileScenario(base, inspectorPort, scenario, mapSource) {
  log(`\n═══ ${scenario.name}: ${scenario.title}`);
  await warmActors(base);
  if (WARMUP_SECONDS > 0) await load(scenario.options(base), WARMUP_SECONDS);

  const all = await listTargets(inspectorPort);
  const wanted = [WORKER_TARGET, ...EXTRA_TARGETS];
  const targets = wanted.map((id) => {
    const t = all.find((x) => x.id === id);
    if (!t) throw new Error(`no inspector target ${id}; the inspector lists: ${all.map((x) => x.id).join(", ")}`);
    return t;
  });
  const stop = await startProfiling(targets);
  const r = await load(scenario.options(base), SECONDS);
  const profiles = await stop();

  const ok = r.requests.total - r.non2xx - r.errors - r.timeouts;
  log(
    `  load: ${Math.round(ok / (r.duration || SECONDS))} req/s ok over ${r.duration} s, ${CONNECTIONS} connections · ` +
      `p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms · ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts`,
  );
  for (const f of failures) log(`  failed: ${f.status} ${f.body}`);

  for (const { target, profile } of profiles) {
    const suffix = target.id === WORKER_TARGET ? "" : `-${target.id.replace(/[^A-Za-z0-9]+/g, "_")}`;
    const file = join(root, "bench", "results", `profile-${scenario.name}${suffix}-${stamp}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    log(`  profile of ${target.id}: ${file}`);
    const a = analyse(profile, mapSource);
    if (target.id === WORKER_TARGET && scenario.name === "ingest") {
      const names = new Set(a.fns.map((f) => f.name));
      const missing = ACTOR_MARKERS.filter((m) => !names.has(m));
      log(
        missing.length === 0
          ? `  actor code is in this isolate's profile (${ACTOR_MARKERS.join(", ")} sampled)`
          : `  NOTE: not sampled in ${target.id}: ${missing.join(", ")}`,
      );
    }
    printSummary(`${scenario.name} · ${target.id}`, a);
  }
}

const inspectorPort = await freePort();
const server = await startProductionServer({ vars: { INSPECTOR_PORT: String(inspectorPort) } });
try {
  log(`npm start runtime on ${server.url}, inspector on 127.0.0.1:${inspectorPort}`);
  log(`inspector targets: ${(await listTargets(inspectorPort)).map((t) => t.id).join(", ")}`);
  const put = await fetch(`${server.url}/v1/catalog/products`, {
    method: "PUT",
    headers: { authorization: apiAuth, "content-type": "application/json" },
    body: JSON.stringify({ products: catalog }),
  });
  if (!put.ok) throw new Error(`catalog load failed: ${put.status} ${await put.text()}`);
  log(`seeding ${PEOPLE} people`);
  await seedPeople(server.url);
  const mapSource = bundleMapper();
  for (const scenario of scenarios.filter((x) => chosen.length === 0 || chosen.includes(x.name))) {
    await scenario.setup?.(server.url);
    // The Queue consumer runs in the same isolate: let the last load's change records reach D1 first.
    await waitForDrain(server.url, E2E_KEYS.apiKey, 120_000);
    await profileScenario(server.url, inspectorPort, scenario, mapSource);
  }
} finally {
  await server.stop();
}
