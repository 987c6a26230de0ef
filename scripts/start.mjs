#!/usr/bin/env node
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
/**
 * `npm start`: the production runtime on one machine. The Worker as
 * `wrangler deploy` bundles it, served by workerd through Miniflare on a
 * direct socket (no `wrangler dev` proxy), with every binding of
 * wrangler.toml — both actor classes, D1, the Queues and their dead-letter
 * queue, R2, the rate limits and the vars — persisted on disk in the layout
 * `npm run dev` uses (`.wrangler/state/v3`), the D1 migrations applied, keys
 * from `.dev.vars` with the environment winning, `PORT` honoured, the demo
 * catalog loaded into an empty catalog, the Cron Trigger fired on its
 * schedule, and a clean stop on SIGINT or SIGTERM.
 */
import { cronMatches } from "./cron.mjs";
import {
  banner,
  ensureDevVars,
  keysOf,
  loadDemoCatalog,
  migrateWarehouse,
  readDevVars,
  root,
  SECRET_NAMES,
  waitForHealth,
  wrangler,
} from "./local-setup.mjs";

// Our stop first: wrangler's modules install exit hooks of their own when imported.
let stop = async (signal) => {
  console.log(`\n${signal}: stopping edge-profiles`);
  process.exit(0);
};
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => stop(signal));
/**
 * Miniflare's services inside workerd report back to this process over a
 * loopback HTTP server: the Queue broker posts a log line after every batch
 * it delivers. Node closes a keep-alive connection idle for 5 s, and workerd
 * can send on it just as it closes; that log call then fails ("Network
 * connection lost"), and the broker, which clears its pending flush only
 * after the log line (miniflare 4.20260426's `QueueBrokerObject#flush`),
 * delivers nothing more until `max_batch_size` messages wait — with sink
 * bundles, often never. Measured in `npm run bench`: the consumer stopped for
 * good after the seeding phase. Connections to this process stay open for
 * as long as workerd holds them.
 */
const createServer = http.createServer;
http.createServer = (...args) => {
  const server = createServer(...args);
  server.keepAliveTimeout = 0;
  return server;
};
const { Log, LogLevel, Miniflare } = await import("miniflare");
const { unstable_getMiniflareWorkerOptions, unstable_readConfig } = await import("wrangler");

const port = Number(process.env.PORT ?? 8787);
const host = process.env.HOST ?? "127.0.0.1";
const persist = process.env.PERSIST_DIR ?? join(root, ".wrangler", "state");
const bundleDir = join(root, ".wrangler", "start-bundle");

// A server given its keys in the environment (a test, a container) leaves the checkout alone.
if (!process.env.WRITE_KEYS) ensureDevVars();
const fileVars = readDevVars();
/**
 * One machine holds every actor: each releases itself once idle, sooner when
 * many are live, so their SQLite connections stay within workerd's
 * process-wide memory cap (src/actors/idle-release.ts); and each ingest sends
 * its change records as it commits them, so the outbox alarm does not wake
 * every actor a second time, through sink buffers that bundle a quarter
 * second of many actors' records into one Queue message (Miniflare's queue
 * broker fails after about ten thousand messages without a pause:
 * src/actors/sink-buffer.ts). Cloudflare needs none of these.
 */
const SELF_HOSTED = {
  ACTOR_IDLE_RELEASE_MS: "8000",
  ACTOR_LIVE_LIMIT: "1000",
  SINK_FLUSH_MS: "0",
  SINK_COALESCE_MS: "250",
};
const { workerOptions } = unstable_getMiniflareWorkerOptions(join(root, "wrangler.toml"));
// Anything wrangler.toml or .dev.vars names may be overridden from the environment, as a secret would be.
const names = new Set([
  ...Object.keys(workerOptions.bindings ?? {}),
  ...Object.keys(fileVars),
  ...Object.keys(SELF_HOSTED),
  ...SECRET_NAMES,
]);
const vars = { ...workerOptions.bindings, ...SELF_HOSTED, ...fileVars };
for (const name of names) if (process.env[name] !== undefined) vars[name] = process.env[name];
const keys = keysOf(vars);

const built = spawnSync(wrangler, ["deploy", "--dry-run", "--outdir", bundleDir], {
  cwd: root,
  stdio: ["ignore", "ignore", "inherit"],
  env: { ...process.env, CI: "1", WRANGLER_SEND_METRICS: "false" },
});
if (built.status !== 0) {
  console.error("wrangler deploy --dry-run failed: the Worker could not be bundled");
  process.exit(built.status ?? 1);
}
migrateWarehouse(persist);

/**
 * The bundle: `index.js`, and beside it each module wrangler.toml's `[[rules]]`
 * import as text (the actors' SQL migrations, the browser tracker).
 */
const modules = [
  { type: "ESModule", path: join(bundleDir, "index.js") },
  ...readdirSync(bundleDir)
    .filter((f) => f !== "index.js" && !f.endsWith(".map") && f !== "README.md")
    .map((f) => ({ type: "Text", path: join(bundleDir, f) })),
];

/** `MINIFLARE_LOG=warn|info|debug`: Miniflare's level, by name. */
function logLevel(name) {
  const level = LogLevel[name.toUpperCase()];
  if (level === undefined) {
    console.error(`MINIFLARE_LOG=${name} is not a level; use none, error, warn, info or debug`);
    process.exit(2);
  }
  return level;
}

const v3 = join(persist, "v3");
const mf = new Miniflare({
  ...workerOptions,
  name: "edge-profiles",
  modules,
  modulesRoot: bundleDir,
  modulesRules: undefined,
  bindings: vars,
  host,
  port,
  // No network here: Miniflare's placeholder `request.cf` rather than fetching one.
  cf: false,
  cachePersist: join(v3, "cache"),
  durableObjectsPersist: join(v3, "do"),
  d1Persist: join(v3, "d1"),
  r2Persist: join(v3, "r2"),
  kvPersist: join(v3, "kv"),
  // The runtime's own warnings (a Queue broker or storage failing underneath the Worker) only when asked for.
  ...(process.env.MINIFLARE_LOG ? { log: new Log(logLevel(process.env.MINIFLARE_LOG)) } : {}),
  // A profiler's way in (bench/profile.mjs): workerd's DevTools inspector, only when asked for.
  ...(process.env.INSPECTOR_PORT ? { inspectorPort: Number(process.env.INSPECTOR_PORT) } : {}),
});
const url = await mf.ready;
const base = url.origin;

/**
 * Cron Triggers: wrangler.toml's schedules, each fired in the minutes it names (UTC, like Cloudflare's), at the
 * start of the minute — a timer re-armed for each minute's boundary, so no minute is skipped or fired twice.
 */
const crons = unstable_readConfig({ config: join(root, "wrangler.toml") }).triggers?.crons ?? [];
let cronTimer = null;
const nextMinute = () => {
  cronTimer = setTimeout(fireCrons, 60_000 - (Date.now() % 60_000) + 50);
};
async function fireCrons() {
  nextMinute();
  const now = new Date(Date.now() - (Date.now() % 60_000));
  try {
    const worker = await mf.getWorker();
    for (const cron of crons) {
      // Each on its own: one that fails (or cannot be read) does not hold back the others.
      try {
        if (cronMatches(cron, now)) await worker.scheduled({ cron, scheduledTime: now });
      } catch (err) {
        console.error(JSON.stringify({ msg: "cron trigger failed", cron, error: String(err) }));
      }
    }
  } catch (err) {
    console.error(JSON.stringify({ msg: "cron triggers not fired", error: String(err) }));
  }
}
nextMinute();

let stopping = false;
stop = async (signal) => {
  if (stopping) return;
  stopping = true;
  clearTimeout(cronTimer);
  console.log(`\n${signal}: stopping edge-profiles`);
  // A wedged runtime must not keep the machine's port: give up on a clean stop after a while.
  const force = setTimeout(() => {
    console.error("workerd did not stop within 10 s; killing it");
    spawnSync("pkill", ["-KILL", "-P", String(process.pid)]);
    process.exit(1);
  }, 10_000);
  await mf.dispose();
  clearTimeout(force);
  process.exit(0);
};

if (await waitForHealth(base, 120)) {
  try {
    await loadDemoCatalog(base, keys.apiKey);
  } catch (err) {
    // A demo nicety: the service runs without it.
    console.warn(`the demo catalog was not loaded: ${String(err.cause ?? err)}`);
  }
  banner("npm start: the deploy bundle in workerd", base, keys);
} else {
  console.error(`${base}/healthz did not answer`);
  await stop("error");
}
