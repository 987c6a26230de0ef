/**
 * The self-hosted tuning `npm start` runs with (vitest.self-hosted.config.mts):
 * change records handed to a sink buffer within the ingest call
 * (`SINK_FLUSH_MS=0`, `SINK_COALESCE_MS`) and a live actor limit of 0, so the edge releases every actor it is done with. A
 * released actor must wake from storage and answer exactly as before, and
 * every acknowledged event must still reach the warehouse once.
 *
 * One actor at a time only: under the vitest pool, releasing actors while
 * ingest calls to other actors were in flight failed those calls with the
 * release's reason, which `npm start`'s workerd did not do in the same
 * workload. Many people released side by side are tested there
 * (test/e2e/overload.test.ts).
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { wasReleased } from "../../src/actors/idle-release";
import { eventually, readJson, sendBatch, uid } from "./helpers";

const actorOf = (userId: string) => env.PROFILES.get(env.PROFILES.idFromName(`user:${userId}`));

const views = (userId: string, from: number, n: number) =>
  Array.from({ length: n }, (_, i) => ({
    type: "track",
    userId,
    messageId: `${userId}-view-${from + i}`,
    event: "Product Viewed",
    properties: { product_id: `sku-${(from + i) % 4}`, category: "Trail Shoes", brand: "Stride", price: 10 },
  }));

/**
 * A mark left on the actor object now in memory: a new object after a release
 * has none yet. Under pressure an actor goes the moment its last call ends,
 * so this look from outside may meet one going: it then looks at the next.
 */
async function markOf(userId: string): Promise<string> {
  const look = () =>
    runInDurableObject(actorOf(userId), (instance) => {
      const marked = instance as unknown as { testMark?: string };
      marked.testMark ??= crypto.randomUUID();
      return marked.testMark;
    });
  try {
    return await look();
  } catch (err) {
    if (!wasReleased(err)) throw err;
    return look();
  }
}

async function warehouseEvents(userId: string): Promise<number> {
  const row = await env.WAREHOUSE.prepare("SELECT COUNT(*) AS n FROM events WHERE user_id = ?")
    .bind(userId)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

describe("a self-hosted machine releasing actors", () => {
  it("wakes a released actor from storage with the same profile, and keeps counting where it left off", async () => {
    const userId = uid();
    await sendBatch(views(userId, 0, 5));
    const before = await readJson<{ counts: { events: number }; affinities: { dimension: string }[] }>(
      `/v1/profiles/${userId}`,
    );
    const first = await markOf(userId);
    await sendBatch(views(userId, 5, 5));
    const second = await markOf(userId);
    // The edge released the actor after the second batch: a new object answers now.
    expect(second).not.toBe(first);
    const after = await readJson<{ counts: { events: number }; affinities: { dimension: string }[] }>(
      `/v1/profiles/${userId}`,
    );
    expect(before.counts.events).toBe(5);
    expect(after.counts.events).toBe(10);
    expect(after.affinities.map((a) => a.dimension)).toEqual(
      expect.arrayContaining(before.affinities.map((a) => a.dimension)),
    );
    // A batch sent again after the release is recognised as already applied.
    const again = await sendBatch(views(userId, 5, 5));
    expect(again.accepted).toBe(5);
    expect((await readJson<{ counts: { events: number } }>(`/v1/profiles/${userId}`)).counts.events).toBe(10);
  });

  it("hands change records to a sink buffer within the ingest call, leaving the alarm only as the resend backstop", async () => {
    const userId = uid();
    const sentAt = Date.now();
    await sendBatch(views(userId, 0, 3));
    const state = await runInDurableObject(actorOf(userId), async (_i, storage) => ({
      unsent: storage.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox WHERE sent_at IS NULL").one().n,
      alarm: await storage.storage.getAlarm(),
    }));
    expect(state.unsent).toBe(0);
    // Unconfirmed records are resent after SINK_REDELIVER_MS (5 minutes), not flushed after SINK_FLUSH_MS.
    if (state.alarm !== null) expect(state.alarm).toBeGreaterThan(sentAt + 60_000);
    await eventually(async () => (await warehouseEvents(userId)) === 3, "the three events in D1");
  });

  it("shows an operator what each sink buffer holds and has sent", async () => {
    type Buffer = { runs: number; sendingSince: string | null; lastSentAt: string | null; runsSent: number };
    const buffers = async () => (await readJson<{ buffers: Buffer[] }>("/v1/sink/status")).buffers;
    const sentBefore = (await buffers()).reduce((n, b) => n + b.runsSent, 0);
    await sendBatch(views(uid(), 0, 2));
    await eventually(async () => {
      const now = await buffers();
      return (
        now.reduce((n, b) => n + b.runsSent, 0) > sentBefore &&
        now.every((b) => b.runs === 0 && b.sendingSince === null)
      );
    }, "the run sent on and every buffer empty");
    const now = await buffers();
    expect(now).toHaveLength(4);
    expect(now.some((b) => b.lastSentAt !== null && Date.parse(b.lastSentAt) <= Date.now())).toBe(true);
  });
});
