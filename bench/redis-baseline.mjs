#!/usr/bin/env node
/**
 * The Node + Redis serving-layer baseline: what architecture teams usually
 * stitch together for an ESP's connected-content call — a precomputed
 * recommendation HTML block per person in Redis, served by a small Node HTTP
 * server — answering the same `GET /v1/merge/user_id:<id>?format=html` call
 * with the same Bearer-key check, so the benchmark can show the product's
 * merge call as a fraction of it.
 *
 * This module owns the whole baseline and nothing else: a `redis-server`
 * child (127.0.0.1, free port, no persistence), loading one block per person
 * into it, the HTTP server as a second child (so its CPU can be read apart
 * from the load generator's, through `pids.node`), an autocannon measurement
 * helper, and stopping both children. It installs nothing: `redis-server`
 * must be on PATH (Debian's package).
 *
 *   node bench/redis-baseline.mjs    1,000 profiles, ~2 KB blocks; BENCH_SECONDS (10), BENCH_CONNECTIONS (32)
 */
import { spawn, spawnSync } from "node:child_process";
import { timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";
// @redis/client: node-redis's own core (what `redis` v5/v6 re-exports), maintained by Redis, zero runtime dependencies.
import { createClient } from "@redis/client";
import autocannon from "autocannon";
import { freePort } from "../scripts/local-server.mjs";

const thisFile = fileURLToPath(import.meta.url);
const FALLBACK_KEY = "fallback:block";
const DEFAULT_API_KEY = "baseline-bench-key";
/** Blocks per MULTI/EXEC sent as one pipeline: big enough to amortize round trips, small enough to keep replies short. */
const LOAD_CHUNK = 500;
/** How long a child gets to come up, or to exit after SIGTERM before SIGKILL. */
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves when the child has exited (at once if it already has); SIGKILL if SIGTERM was not enough in time. */
async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

function assertRedisInstalled() {
  const probe = spawnSync("redis-server", ["--version"], { encoding: "utf8" });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      "redis-server is not on PATH: install Debian's redis-server: apt-get install -y redis-server" +
        (probe.error ? ` (${probe.error.message})` : ""),
    );
  }
}

/**
 * Starts `redis-server` and waits until it answers PING. Returns the child
 * and a connected client. A port taken between `freePort` and the bind makes
 * redis exit at once, so that case is tried again on another port.
 */
async function startRedis(attempt = 1) {
  const port = await freePort();
  const child = spawn(
    "redis-server",
    // No RDB snapshots, no AOF: the blocks are rebuilt each run and disk writes would only add noise.
    ["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no", "--dir", tmpdir()],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  const keep = (chunk) => {
    output = (output + chunk).slice(-4000);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  child.once("error", keep);

  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) break;
    const client = createClient({ socket: { host: "127.0.0.1", port, reconnectStrategy: false } });
    client.on("error", () => {}); // a refused connection while redis is still starting is expected
    try {
      await client.connect();
      if ((await client.ping()) === "PONG") return { child, port, client };
    } catch {
      client.destroy();
    }
    await sleep(50);
  }
  await stopChild(child);
  if (attempt < 3 && /Address already in use/i.test(output)) return startRedis(attempt + 1);
  throw new Error(`redis-server did not answer PING on 127.0.0.1:${port}:\n${output}`);
}

/** Starts the HTTP server child and resolves with its port once it listens. */
function startServerChild({ redisPort, apiKey, port }) {
  const child = spawn(process.execPath, [thisFile, "--serve"], {
    // stdin stays open as a lifeline: the child exits when it closes, so a crashed parent leaves no server behind.
    stdio: ["pipe", "pipe", "inherit"],
    env: { ...process.env, BASELINE_REDIS_PORT: String(redisPort), BASELINE_API_KEY: apiKey, PORT: String(port) },
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error("baseline HTTP server did not start in time"));
    }, START_TIMEOUT_MS);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`baseline HTTP server exited before listening (code ${code}, signal ${signal})`));
    });
    createInterface({ input: child.stdout }).once("line", (line) => {
      clearTimeout(timer);
      resolve({ child, port: JSON.parse(line).port });
    });
  });
}

/**
 * @param {{ profiles: string[], blockFor: (userId: string) => string | Promise<string>, port?: number,
 *   apiKey?: string, fallbackHtml?: string }} options
 *   `port` is the HTTP server's (default: a free one); `fallbackHtml` is what an unknown person gets.
 * @returns {Promise<{ url: string, apiKey: string, pids: { redis: number, node: number }, stop: () => Promise<void> }>}
 */
export async function startRedisBaseline({
  profiles,
  blockFor,
  port = 0,
  apiKey = DEFAULT_API_KEY,
  fallbackHtml = trendingBlock(),
}) {
  assertRedisInstalled();
  const children = [];
  // Kill what was started if the process exits without stop() (an exception in the caller, say).
  const killAll = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  };
  process.on("exit", killAll);
  const stop = async () => {
    // The server first, so it never answers from a Redis that is going away.
    for (const c of [...children].reverse()) await stopChild(c);
    process.off("exit", killAll);
  };

  try {
    const redis = await startRedis();
    children.push(redis.child);
    try {
      await redis.client.set(FALLBACK_KEY, fallbackHtml);
      for (let i = 0; i < profiles.length; i += LOAD_CHUNK) {
        const multi = redis.client.multi();
        for (const id of profiles.slice(i, i + LOAD_CHUNK)) multi.set(`block:${id}`, await blockFor(id));
        await multi.exec();
      }
    } finally {
      await redis.client.close();
    }
    const server = await startServerChild({ redisPort: redis.port, apiKey, port });
    children.push(server.child);
    return {
      url: `http://127.0.0.1:${server.port}`,
      apiKey,
      pids: { redis: redis.child.pid, node: server.child.pid },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Runs autocannon over `paths` (rotating across all connections) and
 * reports throughput as 2xx answers per second, so failed answers never
 * count as served.
 * @param {{ url: string, paths: string[], seconds?: number, connections?: number, headers?: Record<string, string> }} options
 * @returns {Promise<{ requestsPerSecond: number, latencyMs: { p50: number, p90: number, p99: number, max: number },
 *   non2xx: number, errors: number, timeouts: number, requests: number }>}
 */
export async function measure({ url, paths, seconds = 10, connections = 32, headers = {} }) {
  let n = 0;
  const r = await autocannon({
    url,
    connections,
    duration: seconds,
    headers,
    requests: [
      {
        method: "GET",
        setupRequest: (req) => {
          req.path = paths[n++ % paths.length];
          return req;
        },
      },
    ],
  });
  return {
    requestsPerSecond: Math.round(r["2xx"] / (r.duration || seconds)),
    latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max },
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    requests: r.requests.total,
  };
}

// ---- The HTTP server (child process) ----

/** The server as a team would write it: one Redis GET per call, the fallback block held in memory. */
async function serve() {
  const redis = createClient({ socket: { host: "127.0.0.1", port: Number(process.env.BASELINE_REDIS_PORT) } });
  redis.on("error", (err) => process.stderr.write(`baseline redis client: ${err.message}\n`));
  await redis.connect();
  const fallback = (await redis.get(FALLBACK_KEY)) ?? "";
  const expected = Buffer.from(`Bearer ${process.env.BASELINE_API_KEY}`);
  // Constant-time comparison, as the product does for its keys.
  const authorized = (header) => {
    const got = Buffer.from(header ?? "");
    return got.length === expected.length && timingSafeEqual(got, expected);
  };
  const send = (res, status, type, body) => {
    res.writeHead(status, {
      "content-type": type,
      "content-length": Buffer.byteLength(body),
      "cache-control": "private, no-store",
    });
    res.end(body);
  };

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (req.method === "GET" && url.pathname === "/healthz") return send(res, 200, "text/plain; charset=utf-8", "ok");
    if (req.method !== "GET" || !url.pathname.startsWith("/v1/merge/")) {
      return send(res, 404, "application/json", '{"error":"not_found"}');
    }
    if (!authorized(req.headers.authorization)) return send(res, 401, "application/json", '{"error":"unauthorized"}');
    // Only the HTML block is precomputed; the product's JSON form has no counterpart here.
    if (url.searchParams.get("format") !== "html") {
      return send(res, 400, "application/json", '{"error":"invalid_format"}');
    }
    let id = null;
    try {
      const raw = decodeURIComponent(url.pathname.slice("/v1/merge/".length));
      if (raw.startsWith("user_id:")) id = raw.slice("user_id:".length);
    } catch {
      // A malformed escape is an unknown person: the fallback, as the product answers.
    }
    try {
      const block = id ? await redis.get(`block:${id}`) : null;
      send(res, 200, "text/html; charset=utf-8", block ?? fallback);
    } catch (err) {
      send(res, 503, "application/json", JSON.stringify({ error: "unavailable", message: err.message }));
    }
  });
  server.keepAliveTimeout = 30_000; // autocannon keeps its connections; don't drop them between requests

  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    server.close();
    server.closeAllConnections();
    await redis.close().catch(() => {});
    process.exit(0);
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
  process.stdin.on("end", shutdown);
  process.stdin.resume();

  server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
    process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
  });
}

// ---- Blocks for the CLI run ----

const catalog = JSON.parse(
  readFileSync(join(dirname(thisFile), "..", "scripts", "demo-catalog.json"), "utf8"),
).products;

const escapeHtml = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

/** E-mail-safe HTML (tables, inline styles) with a few product cards, as a precompute job would store it. */
function renderBlock(heading, products, token) {
  const cards = products
    .map(
      (p) =>
        `<td style="width:33%;padding:8px;vertical-align:top;font-family:Arial,sans-serif">` +
        `<a href="https://shop.example.com/r/${token}?u=${encodeURIComponent(p.url)}" style="text-decoration:none;color:#111">` +
        `<img src="${escapeHtml(p.imageUrl)}" alt="${escapeHtml(p.title)}" width="180" style="display:block;width:100%;border:0">` +
        `<p style="margin:8px 0 4px;font-size:14px">${escapeHtml(p.title)}</p>` +
        `<p style="margin:0;font-size:14px;font-weight:bold">$${p.price.toFixed(2)}</p></a></td>`,
    )
    .join("");
  return (
    `<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="max-width:600px">` +
    `<tr><td colspan="${products.length}" style="padding:8px;font:bold 18px Arial,sans-serif">${escapeHtml(heading)}</td></tr>` +
    `<tr>${cards}</tr></table>` +
    `<img src="https://shop.example.com/o/${token}" width="1" height="1" alt="" style="display:block">`
  );
}

/** A person's block: three products (the merge call's default limit) picked by their number, with a per-person tracking token. */
export function sampleBlock(userId) {
  const seed = [...userId].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7);
  const products = [0, 1, 2].map((i) => catalog[(seed + i * 11) % catalog.length]);
  const token = Buffer.from(`${userId}:${seed}`).toString("base64url").padEnd(48, "A");
  return renderBlock(`Picked for you, ${userId}`, products, token);
}

function trendingBlock() {
  return renderBlock("Popular right now", catalog.slice(0, 3), "trending");
}

// ---- CLI ----

async function main() {
  const seconds = Number(process.env.BENCH_SECONDS ?? 10);
  const connections = Number(process.env.BENCH_CONNECTIONS ?? 32);
  const profiles = Array.from({ length: 1000 }, (_, u) => `bench-${u}`);
  const paths = profiles.map((id) => `/v1/merge/user_id:${id}?format=html`);
  const baseline = await startRedisBaseline({ profiles, blockFor: sampleBlock });
  process.once("SIGINT", () => baseline.stop().then(() => process.exit(130)));
  try {
    const headers = { authorization: `Bearer ${baseline.apiKey}` };
    // One pass over every person first, as the product's benchmark warms its actors.
    for (const path of paths) {
      const res = await fetch(`${baseline.url}${path}`, { headers });
      if (res.status !== 200) throw new Error(`warm-up ${path}: ${res.status}`);
      await res.arrayBuffer();
    }
    const result = await measure({ url: baseline.url, paths, seconds, connections, headers });
    const redisVersion = spawnSync("redis-server", ["--version"], { encoding: "utf8" }).stdout.trim();
    process.stdout.write(
      `${JSON.stringify(
        {
          name: "Node + Redis baseline: GET /v1/merge/user_id:…?format=html",
          redisVersion,
          node: process.version,
          profiles: profiles.length,
          blockBytes: Buffer.byteLength(sampleBlock(profiles[0])),
          seconds,
          connections,
          ...result,
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    await baseline.stop();
  }
}

if (process.argv[2] === "--serve") {
  await serve();
} else if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
