#!/usr/bin/env node
/**
 * The storage floor: what a minimal SQLite-backed Durable Object can commit
 * per request in the same runtime as the product (workerd through Miniflare,
 * the same pinned version, state on disk). Each request is one upsert of one
 * row in one actor — no auth, no validation, no fan-out, no outbox — so the
 * benchmark can show ingest throughput as a fraction of what the storage
 * itself commits, beside `GET /healthz` as the bare-runtime comparison.
 *
 * This module owns that reference Worker (an inline script, so nothing of the
 * product is loaded), starting and stopping it, and the measurement over it.
 * `node bench/storage-floor.mjs` runs it alone in a temporary directory and
 * prints JSON; environment: BENCH_SECONDS (default 10), BENCH_CONNECTIONS
 * (default 32).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { Miniflare } from "miniflare";

/** One table, one row per actor; the constructor creates it, each request bumps it once. */
const WORKER = `
import { DurableObject } from "cloudflare:workers";

export class Floor extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, at INTEGER NOT NULL)");
  }

  upsert() {
    return this.ctx.storage.sql
      .exec(
        "INSERT INTO counter(id, n, at) VALUES (1, 1, ?) ON CONFLICT(id) DO UPDATE SET n = n + 1, at = excluded.at RETURNING n",
        Date.now(),
      )
      .one().n;
  }
}

export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    if (request.method === "GET" && pathname === "/healthz") return new Response("ok");
    const name = request.method === "POST" && pathname.match(/^\\/upsert\\/([^/]+)$/)?.[1];
    if (!name) return new Response("not found", { status: 404 });
    const n = await env.FLOOR.get(env.FLOOR.idFromName(decodeURIComponent(name))).upsert();
    return new Response(String(n));
  },
};
`;

/** Sequential first upserts timed for `actorCreateMsMean`: enough for a stable mean, short beside the load. */
const CREATE_PROBES = 200;
/** Requests in flight while the rotation's actors are created. */
const CREATE_WIDTH = 16;

/** Parent pid of each process, from /proc (Linux only; empty elsewhere). */
function parentsOf() {
  const out = new Map();
  let entries = [];
  try {
    entries = readdirSync("/proc").filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  for (const pid of entries) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      // The command name may hold spaces and parentheses; the fields after its last ")" do not.
      out.set(Number(pid), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {}
  }
  return out;
}

/** This process's workerd children, so the benchmark can read their CPU time from /proc/<pid>/stat. */
function workerdChildren() {
  return [...parentsOf()]
    .filter(([, ppid]) => ppid === process.pid)
    .map(([pid]) => pid)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("workerd");
      } catch {
        return false;
      }
    });
}

/**
 * Starts the reference Worker on 127.0.0.1 with its actors persisted under
 * `persistDir/do`. `pid` is the workerd process this call started (undefined
 * off Linux, or if it cannot be told apart from one already running).
 * @param {{ persistDir: string, port?: number }} options
 * @returns {Promise<{ url: string, pid?: number, stop: () => Promise<void> }>}
 */
export async function startStorageFloor({ persistDir, port }) {
  const before = new Set(workerdChildren());
  const mf = new Miniflare({
    name: "storage-floor",
    modules: true,
    script: WORKER,
    compatibilityDate: "2026-04-01",
    durableObjects: { FLOOR: { className: "Floor", useSQLite: true } },
    durableObjectsPersist: join(persistDir, "do"),
    host: "127.0.0.1",
    port: port ?? 0,
    // No network here: Miniflare's placeholder `request.cf` rather than fetching one.
    cf: false,
  });
  const ready = await mf.ready;
  const started = workerdChildren().filter((pid) => !before.has(pid));
  return {
    url: ready.origin,
    pid: started.length === 1 ? started[0] : undefined,
    stop: () => mf.dispose(),
  };
}

async function upsert(url, name) {
  const res = await fetch(`${url}/upsert/${encodeURIComponent(name)}`, { method: "POST" });
  const text = await res.text();
  if (!res.ok) throw new Error(`upsert ${name} failed: ${res.status} ${text.slice(0, 300)}`);
  return Number(text);
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

/**
 * Creates `actors` objects (one upsert each), then loads them with
 * autocannon for `seconds` over `connections`, each request the next actor
 * in turn, so every request commits one row in a live, already-created actor.
 * `requestsPerSecond` counts 2xx answers only; latency is autocannon's, of
 * 2xx answers.
 * @param {{ url: string, actors?: number, seconds?: number, connections?: number }} options
 * @returns {Promise<{ requestsPerSecond: number, latencyMs: { p50: number, p90: number, p99: number, max: number },
 *   non2xx: number, errors: number, requests: number, actorCreateMsMean: number }>}
 */
export async function measureStorageFloor({ url, actors = 1000, seconds = 10, connections = 32 }) {
  // Names unique to this run, so a reused persistDir still meets fresh actors.
  const run = Date.now().toString(36);

  // actorCreateMsMean: wall-clock ms, seen by this client, of one POST /upsert
  // to a name never used before, one at a time on an otherwise idle runtime,
  // averaged over CREATE_PROBES names kept apart from the load's rotation. Each
  // covers the HTTP round trip, the Worker's stub call, the actor's start
  // (its SQLite database created on disk, CREATE TABLE) and its first upsert.
  let createMs = 0;
  for (let i = 0; i < CREATE_PROBES; i++) {
    const t0 = performance.now();
    await upsert(url, `probe-${run}-${i}`);
    createMs += performance.now() - t0;
  }

  const names = Array.from({ length: actors }, (_, i) => `floor-${run}-${i}`);
  await pooled(
    names.map((name) => () => upsert(url, name)),
    CREATE_WIDTH,
  );

  let turn = 0;
  const result = await autocannon({
    url,
    connections,
    duration: seconds,
    requests: [
      {
        method: "POST",
        setupRequest: (req) => {
          req.path = `/upsert/${names[turn++ % names.length]}`;
          return req;
        },
      },
    ],
  });
  const { latency } = result;
  return {
    requestsPerSecond: Math.round(result["2xx"] / (result.duration || seconds)),
    latencyMs: { p50: latency.p50, p90: latency.p90, p99: latency.p99, max: latency.max },
    non2xx: result.non2xx,
    // autocannon counts timeouts among its errors.
    errors: result.errors,
    requests: result.requests.total,
    actorCreateMsMean: Math.round((createMs / CREATE_PROBES) * 100) / 100,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const persistDir = mkdtempSync(join(tmpdir(), "storage-floor-"));
  const floor = await startStorageFloor({ persistDir });
  try {
    const result = await measureStorageFloor({
      url: floor.url,
      seconds: Number(process.env.BENCH_SECONDS ?? 10),
      connections: Number(process.env.BENCH_CONNECTIONS ?? 32),
    });
    process.stdout.write(`${JSON.stringify({ pid: floor.pid, ...result }, null, 2)}\n`);
  } finally {
    await floor.stop();
    rmSync(persistDir, { recursive: true, force: true });
  }
}
