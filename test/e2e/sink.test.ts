/**
 * The sink end to end against `wrangler dev --persist-to <tmp>`: events sent
 * through the public API reach the D1 warehouse and the R2 lake exactly once,
 * a replay of the same messageIds adds nothing, and a `kill -9` of the
 * runtime mid-stream loses nothing that was acknowledged.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startLocalServer } from "../../scripts/local-server.mjs";
import { lakeLines, postBatch, sinkStatus, waitFor } from "./sink-client";

type Server = Awaited<ReturnType<typeof startLocalServer>>;

function events(prefix: string, people: number, perPerson: number) {
  const out: Record<string, unknown>[] = [];
  for (let p = 0; p < people; p++) {
    for (let i = 0; i < perPerson; i++) {
      out.push({
        type: "track",
        userId: `${prefix}-person-${p}`,
        messageId: `${prefix}-${p}-${i}`,
        event: i % 4 === 3 ? "Product Added" : "Product Viewed",
        properties: { product_id: `sku-00${(i % 9) + 1}`, category: "Running Shoes", brand: "Stride" },
      });
    }
  }
  return out;
}

async function send(base: string, batch: unknown[], size = 50) {
  for (let i = 0; i < batch.length; i += size) {
    const res = await postBatch(base, batch.slice(i, i + size));
    expect(res.status).toBe(200);
    expect(((await res.json()) as { rejected: unknown[] }).rejected).toEqual([]);
  }
}

describe("events reach the warehouse and the lake exactly once", () => {
  let server: Server;
  afterAll(() => server?.stop());

  it("N events sent are N rows in D1 and N lines in R2, and a replay of them changes nothing", async () => {
    server = await startLocalServer();
    const batch = events("once", 30, 10);
    await send(server.url, batch);
    const drained = await waitFor(
      () => sinkStatus(server.url),
      (s) => s.tables.events === batch.length && s.tables.events_pending_lake === 0,
      `${batch.length} events in D1`,
    );
    expect(drained.tables.profiles).toBe(30);
    let lines = await lakeLines(server.url);
    expect(lines).toHaveLength(batch.length);
    expect(new Set(lines.map((l) => l.messageId)).size).toBe(batch.length);

    // The same messageIds again, then one new event to know the pipeline has moved past them.
    await send(server.url, batch);
    await send(server.url, events("marker", 1, 1));
    const after = await waitFor(
      () => sinkStatus(server.url),
      (s) => s.tables.events >= batch.length + 1 && s.tables.events_pending_lake === 0,
      "the marker event in D1",
    );
    expect(after.tables.events).toBe(batch.length + 1);
    lines = await lakeLines(server.url);
    expect(lines).toHaveLength(batch.length + 1);
    expect(after.tables.dead_letters).toBe(0);
  });
});

describe("a crash of the runtime mid-stream", () => {
  const persistDir = mkdtempSync(join(tmpdir(), "edge-profiles-crash-"));
  let server: Server | null = null;
  afterAll(async () => {
    await server?.stop();
    rmSync(persistDir, { recursive: true, force: true });
  });

  it("loses no acknowledged event and duplicates none, in the actors, D1 and the lake", async () => {
    // The local Queue lives in memory: what it held at the kill is gone, and the
    // actors send it again once it has waited this long for a confirmation.
    const vars = { SINK_REDELIVER_MS: "5000" };
    server = await startLocalServer({ persistDir, vars });
    const people = 20;
    const acked = new Set<string>();
    const unacked = new Set<string>();
    let seq = 0;
    let stop = false;
    let killed = false;
    const sender = async (lane: number) => {
      while (!stop) {
        const n = seq++;
        const batch = Array.from({ length: 10 }, (_, i) => ({
          type: "track",
          userId: `crash-person-${(n + lane) % people}`,
          messageId: `crash-${n}-${i}`,
          event: "Product Viewed",
          properties: { product_id: `sku-00${(i % 9) + 1}`, category: "Running Shoes" },
        }));
        const ids = batch.map((e) => e.messageId);
        const base = server?.url;
        if (!base) return;
        try {
          const res = await postBatch(base, batch);
          for (const id of ids) (res.ok ? acked : unacked).add(id);
          await res.arrayBuffer();
        } catch {
          for (const id of ids) unacked.add(id);
          if (killed) return;
        }
      }
    };
    const lanes = [0, 1, 2, 3].map(sender);
    await waitFor(
      async () => acked.size,
      (n) => n >= 400,
      "400 acknowledged events before the crash",
    );
    // kill -9 the runtime (wrangler and both workerd processes) while requests are in flight.
    killed = true;
    const group = server.pid;
    if (!Number.isInteger(group) || group <= 1) throw new Error(`refusing to kill process group ${group}`);
    process.kill(-group, "SIGKILL");
    await Promise.all(lanes);
    const beforeCrash = acked.size;

    // Restart on the same state and keep sending.
    server = await startLocalServer({ persistDir, vars });
    stop = false;
    killed = false;
    const more = [0, 1].map(sender);
    await waitFor(
      async () => acked.size,
      (n) => n >= beforeCrash + 200,
      "200 more acknowledged events after the restart",
    );
    stop = true;
    await Promise.all(more);

    const base = server.url;
    const ackedCount = acked.size;
    const actorEventCount = async () => {
      let total = 0;
      for (let p = 0; p < people; p++) {
        const res = await fetch(`${base}/v1/profiles/user_id:crash-person-${p}`, {
          headers: { authorization: "Bearer e2e-api-key" },
        });
        if (res.ok) total += ((await res.json()) as { counts: { events: number } }).counts.events;
      }
      return total;
    };
    // Drained: every acknowledged event is in the lake, and the warehouse holds what the actors hold.
    const snapshot = await waitFor(
      async () => {
        const [status, lines, actorEvents] = await Promise.all([sinkStatus(base), lakeLines(base), actorEventCount()]);
        return { status, lakeIds: lines.map((l) => l.messageId), actorEvents };
      },
      (s) => {
        const ids = new Set(s.lakeIds);
        return (
          s.status.tables.events_pending_lake === 0 &&
          s.status.tables.events === s.actorEvents &&
          [...acked].every((id) => ids.has(id))
        );
      },
      "the sink to drain after the restart",
      90_000,
    );
    const { status, lakeIds, actorEvents } = snapshot;
    const lakeSet = new Set(lakeIds);
    const missing = [...acked].filter((id) => !lakeSet.has(id));
    console.log(
      JSON.stringify({
        crash: {
          ackedBeforeKill: beforeCrash,
          acked: ackedCount,
          unacknowledged: [...unacked].filter((id) => !acked.has(id)).length,
          actorEvents,
          d1Events: status.tables.events,
          lakeLines: lakeIds.length,
          missing: missing.length,
        },
      }),
    );
    expect(missing).toEqual([]);
    expect(lakeIds.length).toBe(lakeSet.size);
    expect(lakeSet.size).toBe(status.tables.events);
    expect(actorEvents).toBe(status.tables.events);
    // Only events that were sent can be there: acknowledged ones, plus some whose answer the crash cut off.
    expect(status.tables.events).toBeLessThanOrEqual(ackedCount + unacked.size);
  });
});
