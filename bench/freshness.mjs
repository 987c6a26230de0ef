/**
 * Sink freshness for `npm run bench`: how long after an event's 2xx its row
 * is in the D1 warehouse, idle and under load, and how many D1 statements the
 * consumer spends per 1,000 events.
 *
 * A probe posts one event every `intervalMs` for a dedicated person and
 * notes when the 2xx arrived; afterwards the probes' `loaded_at` (the time
 * the consumer's batch wrote them) is read from the local D1 database with
 * `wrangler d1 execute`, so the figure includes the outbox wait (the
 * actor's alarm, `SINK_FLUSH_MS`), the Queue's batching (`max_batch_timeout`)
 * and the consumer's write.
 */
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const wrangler = join(root, "node_modules", ".bin", "wrangler");

/**
 * Reads the running service's local D1 file. The service's consumer may hold
 * the write lock at that moment (SQLITE_BUSY), so a busy read is tried again.
 */
async function queryD1(persistDir, sql, attempt = 1) {
  const r = spawnSync(
    wrangler,
    ["d1", "execute", "edge-profiles", "--local", "--persist-to", persistDir, "--json", "--command", sql],
    { cwd: root, encoding: "utf8", env: { ...process.env, CI: "1", WRANGLER_SEND_METRICS: "false" } },
  );
  if (r.status === 0) return JSON.parse(r.stdout)[0]?.results ?? [];
  const output = r.stderr || r.stdout;
  if (/SQLITE_BUSY|database is locked/.test(output) && attempt < 10) {
    await new Promise((done) => setTimeout(done, 500 * attempt));
    return queryD1(persistDir, sql, attempt + 1);
  }
  throw new Error(`wrangler d1 execute failed: ${output}`);
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * Probes while `during()` runs (or for `idleMs` when it is absent), then
 * waits for every acknowledged probe to reach D1.
 */
export async function probeFreshness({
  base,
  persistDir,
  writeAuth,
  label,
  during,
  idleMs = 10_000,
  intervalMs = 200,
}) {
  const acked = new Map();
  const inFlight = new Set();
  let k = 0;
  // One probe every interval whether or not the last one has been answered: under load an answer takes seconds.
  const send = () => {
    const messageId = `fresh-${label}-${Date.now().toString(36)}-${k++}`;
    const p = fetch(`${base}/v1/batch`, {
      method: "POST",
      headers: { authorization: writeAuth, "content-type": "application/json", connection: "close" },
      body: JSON.stringify({
        batch: [{ type: "track", userId: `fresh-${label}-${k % 10}`, messageId, event: "Probe", properties: {} }],
      }),
    })
      .then(async (res) => {
        if (res.ok) acked.set(messageId, Date.now());
        await res.arrayBuffer();
      })
      .catch(() => {})
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };
  const timer = setInterval(send, intervalMs);
  await (during ? during() : new Promise((r) => setTimeout(r, idleMs)));
  clearInterval(timer);
  await Promise.all([...inFlight]);

  const deadline = Date.now() + 90_000;
  let rows = [];
  while (Date.now() < deadline) {
    rows = await queryD1(
      persistDir,
      `SELECT message_id, loaded_at FROM events WHERE message_id LIKE 'fresh-${label}-%'`,
    );
    if (rows.length >= acked.size) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const lags = rows
    .filter((r) => acked.has(r.message_id))
    .map((r) => Math.max(0, r.loaded_at - acked.get(r.message_id)))
    .sort((a, b) => a - b);
  return {
    probes: acked.size,
    inWarehouse: lags.length,
    p50Ms: percentile(lags, 50),
    p99Ms: percentile(lags, 99),
    maxMs: lags.at(-1) ?? null,
  };
}

/** The consumer's counters, to compute statements per 1,000 events over a scenario. */
export async function sinkCounters(base, apiKey) {
  for (let attempt = 1; ; attempt++) {
    const s = await sinkStatus(base, apiKey);
    if (s) {
      const rows = Object.values(s.written).reduce((a, n) => a + n, 0);
      return { events: s.written.events, rows, statements: s.consumer.statements, batches: s.consumer.batches };
    }
    if (attempt >= 10) throw new Error(`${base}/v1/sink/status did not answer in 10 tries`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The sink's status, or null when the request failed (a fresh connection each time: a reused one can meet the server closing it). */
async function sinkStatus(base, apiKey) {
  try {
    const res = await fetch(`${base}/v1/sink/status`, {
      headers: { authorization: `Bearer ${apiKey}`, connection: "close" },
    });
    return res.ok ? await res.json() : null;
  } catch {
    return null;
  }
}

/** Waits until the warehouse has not grown for 3 s and the lake is caught up; returns the seconds until its last change. */
export async function waitForDrain(base, apiKey, timeoutMs = 120_000) {
  const started = Date.now();
  let last = "";
  let changedAt = started;
  while (Date.now() - started < timeoutMs) {
    const s = await sinkStatus(base, apiKey);
    if (!s) {
      // wrangler dev restarts its Worker now and then under load, dropping the connection: ask again.
      await new Promise((r) => setTimeout(r, 500));
      continue;
    }
    // Any consumer batch (events, exposures, profiles…) is activity: drained once none ran for 3 s.
    const progress = `${s.tables.events}/${s.consumer.batches}`;
    if (progress !== last) {
      last = progress;
      changedAt = Date.now();
    } else if (s.tables.events_pending_lake === 0 && Date.now() - changedAt >= 3_000) {
      return Math.round((changedAt - started) / 100) / 10;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return null;
}
