#!/usr/bin/env node
/**
 * `npm run soak`: mixed ingest and merge-tag load against `wrangler dev` for
 * SOAK_SECONDS (default 600) at SOAK_RATE requests a second (default 300,
 * about half the benchmarked mixed capacity), with a sprinkling of bad input.
 * At the end it waits for the sink to drain and checks that every accepted
 * event is in the D1 warehouse exactly once and in the raw lake exactly once,
 * counts 5xx answers, and reports the resident memory of the workerd
 * processes at the start and the end. Results go to bench/results/soak-*.json.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { E2E_KEYS, startLocalServer } from "../scripts/local-server.mjs";
import { waitForDrain } from "./freshness.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const SECONDS = Number(process.env.SOAK_SECONDS ?? 600);
const RATE = Number(process.env.SOAK_RATE ?? 300);
const PEOPLE = 500;
const WORKERS = 16;
const writeAuth = `Basic ${Buffer.from(`${E2E_KEYS.writeKey}:`).toString("base64")}`;
const apiAuth = `Bearer ${E2E_KEYS.apiKey}`;
const catalog = JSON.parse(readFileSync(join(root, "scripts", "demo-catalog.json"), "utf8")).products;
const run = Date.now().toString(36);

function workerdRss(groupId) {
  const out = {};
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (!stat.includes("(workerd)") || Number(fields[2]) !== groupId) continue;
      const rss = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
      out[pid] = Math.round(Number(rss ?? 0) / 1024);
    } catch {}
  }
  return out;
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
  const rssStart = workerdRss(server.pid);
  console.log(`soak: ${SECONDS}s at ${RATE} req/s on ${base}; workerd RSS MiB at start ${JSON.stringify(rssStart)}`);

  const deadline = Date.now() + SECONDS * 1000;
  // Memory once the run's actors exist (a minute in), so growth after warm-up shows apart from warm-up itself.
  let rssWarm = null;
  const warmTimer = setTimeout(
    () => {
      rssWarm = workerdRss(server.pid);
    },
    Math.min(60, SECONDS / 2) * 1000,
  );
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
        const messageId = `soak-${run}-${seq++}`;
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
  clearTimeout(warmTimer);
  const rssEnd = workerdRss(server.pid);
  const drainSeconds = await waitForDrain(base, E2E_KEYS.apiKey, 300_000);

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
    rssMiB: { start: rssStart, warm: rssWarm, end: rssEnd },
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
