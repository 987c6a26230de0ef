#!/usr/bin/env node
/**
 * `npm run soak`: mixed ingest and merge-tag load against `wrangler dev` for
 * SOAK_SECONDS (default 600) at SOAK_RATE requests a second (default 300,
 * about half the benchmarked mixed capacity), with a sprinkling of bad input.
 * After the load it waits for the sink to drain, samples on through
 * SOAK_IDLE_SECONDS without traffic (SOAK_ROUNDS repeats load, drain and
 * idle), then checks that every accepted event is in the D1 warehouse exactly
 * once and in the raw lake exactly once and counts 5xx answers. It samples
 * the resident memory of the workerd processes every minute (SOAK_NATIVE=1
 * adds native heap figures). Run it from a checkout nobody is editing: wrangler
 * dev reloads the Worker when a source file changes (the result counts
 * `workerRestarts`). Results go to bench/results/soak-*.json.
 */
import { readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { E2E_KEYS, startLocalServer } from "../scripts/local-server.mjs";
import { waitForDrain } from "./freshness.mjs";
import { gdbAvailable, nativeMemory } from "./workerd-native.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const SECONDS = Number(process.env.SOAK_SECONDS ?? 600);
const RATE = Number(process.env.SOAK_RATE ?? 300);
const PEOPLE = Number(process.env.SOAK_PEOPLE ?? 500);
/**
 * SOAK_REPEAT=1: each person's events reuse 20 messageIds, so after the
 * first few the actors acknowledge duplicates and nothing new reaches the
 * sink, D1 or the lake — the control for telling memory that grows with
 * stored data from memory that grows with traffic.
 */
const REPEAT = process.env.SOAK_REPEAT === "1";
/**
 * SOAK_NATIVE=1: each sample also reads the Worker process's native memory
 * through gdb (SQLite's and tcmalloc's own counters); a sampled heap profile
 * grouped by owner is taken once warm-up is over and at the end of every load
 * and idle phase; and at the very end tcmalloc is asked to give its free
 * pages back, to show how much of the resident memory was only kept for
 * reuse. Each reading stops the process for a few seconds.
 */
const NATIVE = process.env.SOAK_NATIVE === "1";
/** Seconds of sampling with no load after the sink has drained: is memory given back, or does it keep growing? */
const IDLE_SECONDS = Number(process.env.SOAK_IDLE_SECONDS ?? 120);
/** SOAK_ROUNDS: load, drain and idle this many times over; memory that comes back to the same level each round is bounded. */
const ROUNDS = Number(process.env.SOAK_ROUNDS ?? 1);
const WORKERS = 16;
const writeAuth = `Basic ${Buffer.from(`${E2E_KEYS.writeKey}:`).toString("base64")}`;
const apiAuth = `Bearer ${E2E_KEYS.apiKey}`;
const catalog = JSON.parse(readFileSync(join(root, "scripts", "demo-catalog.json"), "utf8")).products;
const run = Date.now().toString(36);

/**
 * Resident memory (MiB) of the workerd processes wrangler started: `proxy`
 * (wrangler's dev proxy on the public port, which does not exist on
 * Cloudflare) and `worker` (the Worker, its actors, and the local D1, R2 and
 * Queue simulators). `anon` is heap; `file` is file pages mapped in (SQLite
 * databases read through mmap), which the kernel can drop under pressure.
 */
function workerdMemory(groupId, publicPort) {
  const out = {};
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (!stat.includes("(workerd)") || Number(fields[2]) !== groupId) continue;
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      const role = cmdline.includes(`entry=127.0.0.1:${publicPort}`) ? "proxy" : "worker";
      const statusText = readFileSync(`/proc/${pid}/status`, "utf8");
      const mib = (field) => Math.round(Number(new RegExp(`${field}:\\s+(\\d+)`).exec(statusText)?.[1] ?? 0) / 1024);
      out[role] = { pid: Number(pid), rss: mib("VmRSS"), anon: mib("RssAnon"), file: mib("RssFile") };
    } catch {}
  }
  return out;
}

/** TCP ports a process listens on: its socket inodes matched against the kernel's LISTEN table. */
function listeningPorts(pid) {
  const inodes = new Set();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode) inodes.add(inode);
    } catch {}
  }
  const ports = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(table, "utf8").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      // f[1] is address:port in hex, f[3] the state (0A = LISTEN), f[9] the inode.
      if (f[3] === "0A" && inodes.has(f[9])) ports.push(Number.parseInt(f[1].split(":")[1], 16));
    }
  }
  return ports;
}

/**
 * The Worker process's own inspector: wrangler starts workerd with
 * `--inspector-addr=localhost:0`, so the port is found among those it
 * listens on, as the one that lists the Worker's isolate.
 */
async function inspectorAddress(workerPid) {
  for (const port of listeningPorts(workerPid)) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/json`, { signal: AbortSignal.timeout(2_000) });
      const targets = await res.json();
      if (Array.isArray(targets) && targets.some((t) => t.id === "core:user:edge-profiles")) return `127.0.0.1:${port}`;
    } catch {}
  }
  return null;
}

/** V8's `Runtime.getHeapUsage` over the inspector: the JS heap in use and reserved, MiB. */
function heapUsed(webSocketUrl) {
  return new Promise((resolve) => {
    const ws = new WebSocket(webSocketUrl);
    const timer = setTimeout(() => {
      ws.close();
      resolve(null);
    }, 20_000);
    ws.onopen = () => ws.send(JSON.stringify({ id: 1, method: "Runtime.getHeapUsage" }));
    ws.onmessage = (event) => {
      const reply = JSON.parse(event.data);
      if (reply.id !== 1) return;
      clearTimeout(timer);
      ws.close();
      const mib = (bytes) => Math.round(bytes / 1048576);
      resolve(reply.result ? { used: mib(reply.result.usedSize), total: mib(reply.result.totalSize) } : null);
    };
    ws.onerror = () => {
      clearTimeout(timer);
      resolve(null);
    };
  });
}

/**
 * The JS heaps inside the Worker process: the Worker and its actors
 * (`worker`), and Miniflare's local D1, Queue and R2 simulators.
 */
async function isolateHeaps(address) {
  if (!address) return null;
  const isolates = { worker: "core:user:edge-profiles", d1: "d1:db", queues: "queues:queue", r2: "r2:bucket" };
  try {
    const targets = await (await fetch(`http://${address}/json`)).json();
    const out = {};
    for (const [name, id] of Object.entries(isolates)) {
      const target = targets.find((t) => t.id === id);
      out[name] = target ? await heapUsed(target.webSocketDebuggerUrl.replace("localhost", "127.0.0.1")) : null;
    }
    return out;
  } catch {
    return null;
  }
}

/** Bytes on disk of the local D1 warehouse, which grows with every event. */
function d1MiB(persistDir) {
  const dir = join(persistDir, "v3", "d1", "miniflare-D1DatabaseObject");
  try {
    const bytes = readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
    return Math.round(bytes / 1048576);
  } catch {
    return null;
  }
}

const server = await startLocalServer();
const base = server.url;
const status = { ok: 0, client: 0, server: 0, failed: 0 };
const accepted = new Set();
let seq = 0;

try {
  const put = await fetch(`${base}/v1/catalog/products`, {
    method: "PUT",
    headers: { authorization: apiAuth, "content-type": "application/json" },
    body: JSON.stringify({ products: catalog }),
  });
  if (!put.ok) throw new Error(`catalog load failed: ${put.status}`);
  const started = Date.now();
  const memory = [];
  const workerPid = workerdMemory(server.pid, server.port).worker?.pid;
  const inspector = await inspectorAddress(workerPid);
  if (NATIVE && !gdbAvailable()) throw new Error("SOAK_NATIVE=1 needs gdb (apt-get install gdb)");
  // A quarter-MiB sampling interval: a profile fine enough to name owners of a few MiB.
  if (NATIVE) nativeMemory(workerPid, { samplingInterval: 262144 });
  const profiles = [];
  const takeSample = async (phase = "load") => {
    const second = Math.round((Date.now() - started) / 1000);
    const m = {
      second,
      phase,
      ...workerdMemory(server.pid, server.port),
      jsHeap: await isolateHeaps(inspector),
      d1File: d1MiB(server.persistDir),
    };
    if (NATIVE) {
      const profile = (phase === "load" && second >= 150 && profiles.length === 0) || phase.startsWith("end of");
      const { owners, topStacks, ...counters } = nativeMemory(m.worker?.pid ?? workerPid, { profile }) ?? {};
      m.native = counters;
      if (owners) profiles.push({ second, phase, owners, topStacks });
    }
    memory.push(m);
    console.log(`soak: ${JSON.stringify(m)} requests ${JSON.stringify(status)}`);
    // wrangler dev reloads the Worker when a source file changes, which resets its memory: the run says so.
    const first = memory[0]?.worker?.pid;
    if (first !== undefined && m.worker?.pid !== undefined && m.worker.pid !== first) {
      console.warn(
        "soak: the Worker process was restarted (a source file changed?); memory figures are not comparable",
      );
    }
  };
  // One sample at a time: a slow inspector answer must not make two overlap.
  let inFlight = null;
  const sample = (phase) => {
    inFlight ??= takeSample(phase).finally(() => {
      inFlight = null;
    });
    return inFlight;
  };
  console.log(`soak: ${ROUNDS} × ${SECONDS}s at ${RATE} req/s on ${base}, ${IDLE_SECONDS}s idle after each`);
  await sample();
  // A sample every SOAK_SAMPLE_SECONDS shows a plateau apart from steady growth.
  const sampleEvery = Number(process.env.SOAK_SAMPLE_SECONDS ?? 60) * 1000;
  const interval = (1000 * WORKERS) / RATE;
  const one = async () => {
    const kind = Math.random();
    const person = `soak-${Math.floor(Math.random() * PEOPLE)}`;
    let res;
    let ids = [];
    if (kind < 0.7) {
      res = await fetch(`${base}/v1/merge/user_id:${person}?format=html`, { headers: { authorization: apiAuth } });
    } else if (kind < 0.97) {
      const batch = Array.from({ length: 5 }, () => {
        const p = catalog[seq % catalog.length];
        const messageId = REPEAT ? `soak-${run}-${person}-${seq++ % 20}` : `soak-${run}-${seq++}`;
        ids.push(messageId);
        return {
          type: "track",
          userId: person,
          messageId,
          event: "Product Viewed",
          properties: { product_id: p.id, category: p.categories[0], brand: p.brand },
        };
      });
      // A sprinkling of bad messages inside good batches: quarantined, never stored as events.
      if (Math.random() < 0.2) batch.push({ type: "track", userId: person });
      res = await fetch(`${base}/v1/batch`, {
        method: "POST",
        headers: { authorization: writeAuth, "content-type": "application/json" },
        body: JSON.stringify({ batch }),
      });
      if (res.ok) {
        const body = await res.json();
        const rejected = new Set(body.rejected.map((r) => r.index));
        ids = ids.filter((_, i) => !rejected.has(i));
        for (const id of ids) accepted.add(id);
      }
    } else {
      res = await fetch(`${base}/v1/batch`, {
        method: "POST",
        headers: { authorization: writeAuth, "content-type": "application/json" },
        body: Math.random() < 0.5 ? "{not json" : JSON.stringify({ batch: "nope" }),
      });
    }
    if (!res.bodyUsed) await res.arrayBuffer();
    if (res.status >= 500) status.server += 1;
    else if (res.status >= 400) status.client += 1;
    else status.ok += 1;
  };
  const drainSeconds = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const sampler = setInterval(sample, sampleEvery);
    const deadline = Date.now() + SECONDS * 1000;
    await Promise.all(
      Array.from({ length: WORKERS }, async () => {
        while (Date.now() < deadline) {
          const started = Date.now();
          try {
            await one();
          } catch {
            status.failed += 1;
          }
          const wait = interval - (Date.now() - started);
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        }
      }),
    );
    clearInterval(sampler);
    await inFlight;
    await sample("end of load");
    drainSeconds.push(await waitForDrain(base, E2E_KEYS.apiKey, 300_000));
    for (let left = IDLE_SECONDS * 1000; left > 0; ) {
      const wait = Math.min(sampleEvery, left);
      await new Promise((r) => setTimeout(r, wait));
      left -= wait;
      await sample(left > 0 ? "idle" : "end of idle");
    }
  }
  // How much of the Worker process's memory is free memory its allocator
  // keeps for reuse: ask tcmalloc to hand it back to the system, then measure.
  const released = NATIVE ? nativeMemory(workerPid, { release: true }) : null;
  const afterRelease = released ? workerdMemory(server.pid, server.port).worker : null;

  // Every accepted event: once in D1 (the events table holds only this run's), once in the lake.
  const ids = [...accepted];
  const lakeCounts = new Map();
  let cursor = null;
  do {
    const listed = await (
      await fetch(`${base}/v1/sink/lake${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ""}`, {
        headers: { authorization: apiAuth },
      })
    ).json();
    for (const o of listed.objects) {
      const text = await (
        await fetch(`${base}/v1/sink/lake/object?key=${encodeURIComponent(o.key)}`, {
          headers: { authorization: apiAuth },
        })
      ).text();
      for (const line of text.split("\n")) {
        if (!line) continue;
        const id = JSON.parse(line).messageId;
        if (id.startsWith(`soak-${run}-`)) lakeCounts.set(id, (lakeCounts.get(id) ?? 0) + 1);
      }
    }
    cursor = listed.cursor;
  } while (cursor);
  const sink = await (await fetch(`${base}/v1/sink/status`, { headers: { authorization: apiAuth } })).json();
  const inWarehouse = sink.tables.events;
  const lost = ids.filter((id) => !lakeCounts.has(id)).length;
  const duplicated = [...lakeCounts.values()].filter((n) => n > 1).length;
  const result = {
    at: new Date().toISOString(),
    seconds: SECONDS,
    targetRate: RATE,
    requests: status,
    acceptedEvents: ids.length,
    warehouseEvents: inWarehouse,
    lakeLost: lost,
    lakeDuplicated: duplicated,
    quarantined: sink.tables.bad_events,
    drainSeconds,
    achievedRate: Math.round((status.ok + status.client + status.server) / (SECONDS * ROUNDS)),
    people: PEOPLE,
    repeatedIds: REPEAT,
    workerRestarts: new Set(memory.map((m) => m.worker?.pid).filter(Boolean)).size - 1,
    rounds: ROUNDS,
    idleSeconds: IDLE_SECONDS,
    workerAfterRelease: afterRelease && { ...afterRelease, native: released },
    memoryMiB: memory,
    nativeProfiles: profiles,
  };
  console.log(JSON.stringify(result, null, 2));
  writeFileSync(
    join(root, "bench", "results", `soak-${result.at.replaceAll(":", "-")}.json`),
    `${JSON.stringify(result, null, 2)}\n`,
  );
  if (status.server > 0 || lost > 0 || duplicated > 0 || inWarehouse !== ids.length) process.exitCode = 1;
} finally {
  await server.stop();
}
