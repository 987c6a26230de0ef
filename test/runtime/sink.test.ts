import {
  createExecutionContext,
  createMessageBatch,
  getQueueResult,
  runDurableObjectAlarm,
  runInDurableObject,
} from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { flushOutbox } from "../../src/actors/outbox";
import type { ProfileActor } from "../../src/actors/profile-actor";
import type { Env } from "../../src/env";
import worker from "../../src/index";
import type { ChangeMessage, ChangeRecord } from "../../src/model/changes";
import type { ProfileEvent } from "../../src/model/messages";
import { CHANGES_QUEUE, consumeChanges, DEAD_LETTER_QUEUE } from "../../src/sink/consumer";
import { eventually, readJson, sendBatch, uid } from "./helpers";

const actorOf = (userId: string) => env.PROFILES.get(env.PROFILES.idFromName(`user:${userId}`));

function outboxState(userId: string) {
  return runInDurableObject(actorOf(userId), (_i, state) => ({
    rows: state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox").one().n,
    sent: state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox WHERE sent_at IS NOT NULL").one().n,
  }));
}

function outboxRows(userId: string) {
  return runInDurableObject(actorOf(userId), (_i, state) =>
    state.storage.sql
      .exec<{ record: string }>("SELECT record FROM outbox ORDER BY seq")
      .toArray()
      .map((r) => JSON.parse(r.record) as ChangeRecord),
  );
}

async function d1Count(sql: string, ...binds: unknown[]): Promise<number> {
  const row = await env.WAREHOUSE.prepare(sql)
    .bind(...binds)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

const views = (userId: string, n: number) =>
  Array.from({ length: n }, (_, i) => ({
    type: "track",
    userId,
    messageId: `${userId}-view-${i}`,
    event: "Product Viewed",
    properties: { product_id: `sku-${i}`, category: "Running Shoes", brand: "Stride", price: 10 },
  }));

describe("the outbox", () => {
  it("records every applied event, the profile, its session and affinities in the same batch", async () => {
    const userId = uid();
    await sendBatch(views(userId, 3));
    const records = await outboxRows(userId);
    const kinds = records.map((r) => r.kind);
    expect(kinds.filter((k) => k === "event")).toHaveLength(3);
    expect(kinds.filter((k) => k === "profile")).toHaveLength(1);
    expect(kinds.filter((k) => k === "session")).toHaveLength(1);
    expect(records.filter((r) => r.kind === "affinity").map((r) => r.kind === "affinity" && r.dimension)).toEqual(
      expect.arrayContaining(["category:running-shoes", "brand:stride", "product:sku-0"]),
    );
    expect(new Set(records.map((r) => r.profileId))).toEqual(new Set([`user_id:${userId}`]));
    // A resent batch changes nothing, so it records nothing.
    await sendBatch(views(userId, 3));
    expect(await outboxRows(userId)).toHaveLength(records.length);
  });

  it("keeps neither the change nor its records when the batch's transaction fails", async () => {
    const userId = uid();
    const bad = {
      messageId: "m-1",
      type: null,
      name: null,
      userId,
      anonymousId: null,
      previousId: null,
      groupId: null,
      timestamp: Date.now(),
      receivedAt: Date.now(),
      properties: {},
      traits: {},
      context: {},
    } as unknown as ProfileEvent;
    const stub = actorOf(userId);
    await expect(
      runInDurableObject(stub, (instance) => (instance as unknown as ProfileActor).ingest(`user:${userId}`, [bad])),
    ).rejects.toThrow();
    const left = await runInDurableObject(stub, (_i, state) => ({
      outbox: state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox").one().n,
      profile: state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM profile").one().n,
    }));
    expect(left).toEqual({ outbox: 0, profile: 0 });
    expect(
      (
        await exports.default.fetch(
          new Request(`http://edge.test/v1/profiles/user_id:${userId}`, {
            headers: { authorization: "Bearer test-api-key" },
          }),
        )
      ).status,
    ).toBe(404);
  });

  it("arms the flush alarm when records are written", async () => {
    const userId = uid();
    await sendBatch(views(userId, 1));
    const alarm = await runInDurableObject(actorOf(userId), (_i, state) => state.storage.getAlarm());
    expect(alarm).not.toBeNull();
  });

  it("flushes through the Queue on its alarm, into D1 and the raw lake", async () => {
    const userId = uid();
    await sendBatch(views(userId, 4));
    const written = (await outboxRows(userId)).length;
    expect(await runDurableObjectAlarm(actorOf(userId))).toBe(true);
    // Sent, and kept until the consumer confirms it applied them.
    expect(await outboxState(userId)).toEqual({ rows: written, sent: written });
    const profileId = `user_id:${userId}`;
    await eventually(
      async () =>
        (await d1Count("SELECT COUNT(*) AS n FROM events WHERE profile_id = ? AND lake_key IS NOT NULL", profileId)) ===
        4,
      "4 events in D1 and the lake",
    );
    const profile = await env.WAREHOUSE.prepare("SELECT event_count, version FROM profiles WHERE profile_id = ?")
      .bind(profileId)
      .first<{ event_count: number; version: number }>();
    expect(profile).toEqual({ event_count: 4, version: 1 });
    const keys = await env.WAREHOUSE.prepare("SELECT DISTINCT lake_key AS k FROM events WHERE profile_id = ?")
      .bind(profileId)
      .all<{ k: string }>();
    const lines: string[] = [];
    for (const { k } of keys.results) {
      expect(k).toMatch(/^raw\/events\/dt=\d{4}-\d{2}-\d{2}\/hour=\d{2}\/.+\.ndjson$/);
      lines.push(...((await (await env.LAKE.get(k))?.text()) ?? "").split("\n").filter(Boolean));
    }
    const mine = lines.map((l) => JSON.parse(l)).filter((l) => l.profileId === profileId);
    expect(mine.map((l) => l.messageId).sort()).toEqual([0, 1, 2, 3].map((i) => `${userId}-view-${i}`).sort());
    expect(mine[0]).toMatchObject({ type: "track", event: "Product Viewed", userId, sessionNumber: 1 });
    await eventually(async () => (await outboxState(userId)).rows === 0, "the consumer's confirmation");
    // Confirmed and empty: no redelivery alarm is left to wake the actor.
    expect(await runInDurableObject(actorOf(userId), (_i, state) => state.storage.getAlarm())).toBeNull();
  }, 30_000);

  it("keeps the records when the Queue refuses them, and sends them on a later alarm", async () => {
    const userId = uid();
    await sendBatch(views(userId, 2));
    const stub = actorOf(userId);
    const pending = (await outboxRows(userId)).length;
    await runInDurableObject(stub, (instance) => {
      const holder = instance as unknown as { env: Env };
      holder.env = {
        ...holder.env,
        SINK_QUEUE: { sendBatch: () => Promise.reject(new Error("queue unavailable")) } as unknown as Queue<string>,
      };
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await outboxRows(userId)).toHaveLength(pending);
    const retryAt = await runInDurableObject(stub, (_i, state) => state.storage.getAlarm());
    expect(retryAt).not.toBeNull();
    await runInDurableObject(stub, (instance) => {
      (instance as unknown as { env: Env }).env = env;
    });
    expect(await outboxState(userId)).toEqual({ rows: pending, sent: 0 });
    const before = Date.now();
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await outboxState(userId)).toEqual({ rows: pending, sent: pending });
    // Armed again only to resend what the consumer might never confirm.
    const resendAt = await runInDurableObject(stub, (_i, state) => state.storage.getAlarm());
    expect(resendAt).toBeGreaterThanOrEqual(before + 60_000);
  });

  it("sends again what was sent but never confirmed, once the redelivery interval has passed", async () => {
    const userId = uid();
    await sendBatch(views(userId, 3));
    const stub = actorOf(userId);
    const lost: string[] = [];
    // A Queue that accepts and then loses everything, as a killed local runtime does.
    const blackHole = { sendBatch: async (msgs: { body: string }[]) => void lost.push(...msgs.map((m) => m.body)) };
    const t0 = Date.now();
    const flushes = await runInDurableObject(stub, async (_i, state) => {
      const db = state.storage.sql;
      const queue = blackHole as unknown as Queue<string>;
      const first = await flushOutbox(db, queue, `user:${userId}`, 60_000, t0);
      const early = await flushOutbox(db, queue, `user:${userId}`, 60_000, t0 + 30_000);
      const late = await flushOutbox(db, queue, `user:${userId}`, 60_000, t0 + 61_000);
      return { first, early, late };
    });
    const records = (await outboxRows(userId)).length;
    expect(flushes.first).toEqual({ sent: records, nextAt: t0 + 60_000 });
    expect(flushes.early).toEqual({ sent: 0, nextAt: t0 + 60_000 });
    expect(flushes.late).toEqual({ sent: records, nextAt: t0 + 61_000 + 60_000 });
    expect(lost).toHaveLength(2);
    expect(lost[1]).toBe(lost[0]);
    // The consumer's confirmation of the resent run empties the outbox.
    const { firstSeq, lastSeq } = JSON.parse(lost[1] ?? "{}") as ChangeMessage;
    const deleted = await runInDurableObject(stub, (instance) =>
      (instance as unknown as ProfileActor).confirmDelivered([[firstSeq, lastSeq]]),
    );
    expect(deleted).toBe(records);
    expect(await outboxState(userId)).toEqual({ rows: 0, sent: 0 });
  });
});

type QueueMessageInput = Parameters<typeof createMessageBatch>[1][number];

let sequence = 0;

function eventRecord(profileId: string, messageId: string, version = 1): ChangeRecord {
  return {
    kind: "event",
    profileId,
    version,
    at: Date.now(),
    event: {
      messageId,
      userId: profileId.slice(8),
      anonymousId: null,
      type: "track",
      name: "Product Viewed",
      timestamp: Date.now(),
      receivedAt: Date.now(),
      sessionNumber: 1,
      productId: "sku-1",
      revenue: 0,
      properties: { product_id: "sku-1" },
      traits: {},
      context: {},
    },
  };
}

function profileRecord(profileId: string, version: number, traits: Record<string, unknown>): ChangeRecord {
  return {
    kind: "profile",
    profileId,
    version,
    at: Date.now(),
    profile: {
      userId: profileId.slice(8),
      anonymousIds: [],
      traits,
      traitsOmitted: false,
      groupIds: [],
      firstSeen: 1,
      lastSeen: 2,
      eventCount: version,
      sessionCount: 1,
    },
  };
}

function message(records: ChangeRecord[]): QueueMessageInput {
  sequence += 1;
  const body: ChangeMessage = { v: 1, actor: "user:test", firstSeq: sequence, lastSeq: sequence, records };
  return { id: `msg-${crypto.randomUUID()}`, timestamp: new Date(), attempts: 1, body: JSON.stringify(body) };
}

/** Fault injection: a warehouse that refuses any batch whose parameters carry `marker`. */
function warehouseRefusing(marker: string): D1Database {
  const bound = new WeakMap<object, unknown[]>();
  return {
    prepare: (query: string) => {
      const statement = env.WAREHOUSE.prepare(query);
      return {
        bind: (...params: unknown[]) => {
          const b = statement.bind(...params);
          bound.set(b, params);
          return b;
        },
      };
    },
    batch: (statements: D1PreparedStatement[]) =>
      statements.some((st) => JSON.stringify(bound.get(st) ?? []).includes(marker))
        ? Promise.reject(new Error("D1 refused the batch"))
        : env.WAREHOUSE.batch(statements),
  } as unknown as D1Database;
}

/** A sink buffer's Queue message: several runs, as SinkBuffer sends them. */
function bundleOf(runs: QueueMessageInput[]): QueueMessageInput {
  const body = `{"v":1,"bundle":[${runs.map((r) => r.body).join(",")}]}`;
  return { id: `bundle-${crypto.randomUUID()}`, timestamp: new Date(), attempts: 1, body };
}

/** A change Queue that keeps what is sent to it. */
function capturingQueue() {
  const sent: unknown[] = [];
  const queue = {
    sendBatch: async (messages: Iterable<{ body: string }>) => {
      for (const m of messages) sent.push(JSON.parse(m.body));
    },
  } as unknown as Queue<string>;
  return { sent, queue };
}

/** Delivers `messages` to the consumer of `queue`, with some bindings replaced (fault injection) if given. */
async function deliver(messages: QueueMessageInput[], queue = CHANGES_QUEUE, bindings: Partial<Env> = {}) {
  const batch = createMessageBatch(queue, messages);
  const ctx = createExecutionContext();
  await worker.queue(batch as MessageBatch<unknown>, { ...env, ...bindings });
  return getQueueResult(batch, ctx);
}

describe("the outbox under resends", () => {
  it("never lets a confirmation delete rows it did not carry", async () => {
    const userId = uid();
    const stub = actorOf(userId);
    const sent: ChangeMessage[] = [];
    const queue = {
      sendBatch: async (msgs: { body: string }[]) => void sent.push(...msgs.map((m) => JSON.parse(m.body))),
    } as unknown as Queue<string>;
    const t0 = Date.now();
    const flush = (at: number) =>
      runInDurableObject(stub, (_i, state) => flushOutbox(state.storage.sql, queue, `user:${userId}`, 60_000, at));
    await sendBatch(views(userId, 3).slice(0, 1)); // run A
    await flush(t0);
    await sendBatch(views(userId, 3).slice(1, 2)); // run B
    await flush(t0 + 10_000);
    await sendBatch(views(userId, 3).slice(2, 3)); // run C
    sent.length = 0;
    // At t0 + 61 s run A is due again and C is new; B (sent at t0 + 10 s) is not.
    await flush(t0 + 61_000);
    expect(sent.length).toBe(2);
    const bRows = await runInDurableObject(
      stub,
      (_i, state) =>
        state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox WHERE sent_at = ?", t0 + 10_000).one()
          .n,
    );
    expect(bRows).toBeGreaterThan(0);
    await runInDurableObject(stub, (instance) =>
      (instance as unknown as ProfileActor).confirmDelivered(sent.map((m) => [m.firstSeq, m.lastSeq])),
    );
    expect((await outboxState(userId)).rows).toBe(bRows);
  });

  it("stops resending a run the dead-letter queue kept, and keeps it once", async () => {
    const userId = uid();
    await sendBatch(views(userId, 2));
    const stub = actorOf(userId);
    const bodies: string[] = [];
    const queue = { sendBatch: async (msgs: { body: string }[]) => void bodies.push(...msgs.map((m) => m.body)) };
    await runInDurableObject(stub, (_i, state) =>
      flushOutbox(state.storage.sql, queue as unknown as Queue<string>, `user:${userId}`, 60_000),
    );
    const body = bodies[0] ?? "";
    // The same run dead-lettered twice, as two Queue messages (a resend has a new id).
    for (const id of [`dead-a-${userId}`, `dead-b-${userId}`]) {
      await deliver([{ id, timestamp: new Date(), attempts: 6, body }], DEAD_LETTER_QUEUE);
    }
    expect((await outboxState(userId)).rows).toBe(0);
    const kept = await d1Count("SELECT COUNT(*) AS n FROM dead_letters WHERE body = ?", body);
    expect(kept).toBe(1);
  });
});

describe("the sink consumer", () => {
  it("applies a redelivered batch once: rows and lake lines stay the same", async () => {
    const profileId = `user_id:${uid()}`;
    const ids = Array.from({ length: 5 }, (_, i) => `${profileId}-m${i}`);
    const messages = [
      message(ids.slice(0, 3).map((id) => eventRecord(profileId, id))),
      message(ids.slice(3).map((id) => eventRecord(profileId, id))),
    ];
    const first = await deliver(messages);
    expect(first.explicitAcks.sort()).toEqual(messages.map((m) => m.id).sort());
    const second = await deliver(messages);
    expect(second.retryMessages).toEqual([]);
    expect(await d1Count("SELECT COUNT(*) AS n FROM events WHERE profile_id = ?", profileId)).toBe(5);
    const keys = await env.WAREHOUSE.prepare("SELECT DISTINCT lake_key AS k FROM events WHERE profile_id = ?")
      .bind(profileId)
      .all<{ k: string }>();
    expect(keys.results).toHaveLength(1);
    const text = (await (await env.LAKE.get(keys.results[0]?.k ?? ""))?.text()) ?? "";
    expect(
      text
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).messageId),
    ).toEqual([...ids].sort());
  });

  it("keeps the newest profile version whatever order the changes arrive in", async () => {
    const profileId = `user_id:${uid()}`;
    await deliver([message([profileRecord(profileId, 5, { plan: "pro" })])]);
    await deliver([message([profileRecord(profileId, 3, { plan: "free" })])]);
    const row = await env.WAREHOUSE.prepare("SELECT traits, version FROM profiles WHERE profile_id = ?")
      .bind(profileId)
      .first<{ traits: string; version: number }>();
    expect({ traits: JSON.parse(row?.traits ?? "{}"), version: row?.version }).toEqual({
      traits: { plan: "pro" },
      version: 5,
    });
    await deliver([message([profileRecord(profileId, 6, { plan: "team" })])]);
    const newer = await env.WAREHOUSE.prepare("SELECT traits FROM profiles WHERE profile_id = ?")
      .bind(profileId)
      .first<{ traits: string }>();
    expect(JSON.parse(newer?.traits ?? "{}")).toEqual({ plan: "team" });
  });

  it("retries a poison message without holding back the good ones in its batch", async () => {
    const profileId = `user_id:${uid()}`;
    const good = message([eventRecord(profileId, `${profileId}-ok`)]);
    const poison: QueueMessageInput = {
      id: "poison-1",
      timestamp: new Date(),
      attempts: 1,
      body: "{not json",
    };
    const wrongShape: QueueMessageInput = {
      id: "poison-2",
      timestamp: new Date(),
      attempts: 2,
      body: { v: 1 },
    };
    const result = await deliver([good, poison, wrongShape]);
    expect(result.explicitAcks).toEqual([good.id]);
    expect(result.retryMessages.map((r: { msgId: string }) => r.msgId).sort()).toEqual(["poison-1", "poison-2"]);
    expect(await d1Count("SELECT COUNT(*) AS n FROM events WHERE profile_id = ?", profileId)).toBe(1);
  });

  it("retries only the message whose write fails when the batch as a whole cannot be written", async () => {
    const profileId = `user_id:${uid()}`;
    const healthy = message([eventRecord(profileId, `${profileId}-healthy`)]);
    const doomed = message([eventRecord(profileId, `${profileId}-doomed`)]);
    const warehouse = warehouseRefusing("-doomed");
    const batch = createMessageBatch(CHANGES_QUEUE, [healthy, doomed]);
    const ctx = createExecutionContext();
    await consumeChanges(batch as MessageBatch<unknown>, { ...env, WAREHOUSE: warehouse });
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks).toEqual([healthy.id]);
    expect(result.retryMessages.map((r: { msgId: string }) => r.msgId)).toEqual([doomed.id]);
    expect(await d1Count("SELECT COUNT(*) AS n FROM events WHERE profile_id = ?", profileId)).toBe(1);
    // Redelivered to a healthy warehouse, the doomed message lands too.
    const retry = await deliver([doomed]);
    expect(retry.explicitAcks).toEqual([doomed.id]);
    expect(await d1Count("SELECT COUNT(*) AS n FROM events WHERE profile_id = ?", profileId)).toBe(2);
  });

  it("rebuilds a lake object that never landed when its events are delivered again", async () => {
    const profileId = `user_id:${uid()}`;
    const msg = message([eventRecord(profileId, `${profileId}-a`), eventRecord(profileId, `${profileId}-b`)]);
    const lakeDown = {
      head: (key: string) => env.LAKE.head(key),
      put: () => Promise.reject(new Error("lake unavailable")),
    } as unknown as R2Bucket;
    const batch = createMessageBatch(CHANGES_QUEUE, [msg]);
    const ctx = createExecutionContext();
    await consumeChanges(batch as MessageBatch<unknown>, { ...env, LAKE: lakeDown });
    expect((await getQueueResult(batch, ctx)).retryMessages.map((r: { msgId: string }) => r.msgId)).toEqual([msg.id]);
    // D1 holds the events, claimed for an object that does not exist yet.
    const claimed = await env.WAREHOUSE.prepare("SELECT DISTINCT lake_key AS k FROM events WHERE profile_id = ?")
      .bind(profileId)
      .all<{ k: string }>();
    expect(claimed.results).toHaveLength(1);
    const key = claimed.results[0]?.k ?? "";
    expect(await env.LAKE.head(key)).toBeNull();

    expect((await deliver([msg])).explicitAcks).toEqual([msg.id]);
    expect((await deliver([msg])).explicitAcks).toEqual([msg.id]);
    const text = (await (await env.LAKE.get(key))?.text()) ?? "";
    expect(
      text
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).messageId),
    ).toEqual([`${profileId}-a`, `${profileId}-b`]);
  });

  it("keeps dead-lettered messages for an operator, once each", async () => {
    const dead: QueueMessageInput = {
      id: `dead-${uid()}`,
      timestamp: new Date(),
      attempts: 6,
      body: "{not json",
    };
    const before = (await readJson<{ deadLetters: number }>("/v1/sink/status")).deadLetters;
    const result = await deliver([dead], DEAD_LETTER_QUEUE);
    expect(result.ackAll).toBe(true);
    await deliver([dead], DEAD_LETTER_QUEUE);
    const status = await readJson<{ deadLetters: number }>("/v1/sink/status");
    expect(status.deadLetters).toBe(before + 1);
    const listed = await readJson<{ deadLetters: { messageId: string; body: string; attempts: number }[] }>(
      "/v1/sink/dead-letters?limit=5",
    );
    expect(listed.deadLetters.find((d) => d.messageId === dead.id)).toMatchObject({ body: "{not json", attempts: 6 });
  });
});

describe("bundles from the sink buffer", () => {
  it("applies every run of a bundle and confirms each to its own actor", async () => {
    const profileId = `user_id:${uid()}`;
    const runs = [1, 2, 3].map((i) => message([eventRecord(profileId, `${profileId}-${i}`)]));
    const result = await deliver([bundleOf(runs)]);
    expect(result.explicitAcks).toHaveLength(1);
    expect(result.retryMessages).toEqual([]);
    expect(await d1Count("SELECT COUNT(*) AS n FROM events WHERE profile_id = ?", profileId)).toBe(3);
  });

  it("sends a bundle's broken run back alone and applies its neighbours", async () => {
    const profileId = `user_id:${uid()}`;
    const good = [1, 2].map((i) => message([eventRecord(profileId, `${profileId}-${i}`)]));
    const broken = { ...good[0], body: JSON.stringify({ v: 1, actor: "user:broken", firstSeq: 1, lastSeq: 1 }) };
    const bundle = bundleOf([good[0], broken, good[1]] as QueueMessageInput[]);
    const { sent, queue } = capturingQueue();
    const result = await deliver([bundle], CHANGES_QUEUE, { SINK_QUEUE: queue });
    expect(result.explicitAcks).toEqual([bundle.id]);
    expect(sent).toEqual([{ v: 1, actor: "user:broken", firstSeq: 1, lastSeq: 1 }]);
    expect(await d1Count("SELECT COUNT(*) AS n FROM events WHERE profile_id = ?", profileId)).toBe(2);
  });

  it("sends back alone only the run whose write fails, so one bad run cannot dead-letter its bundle", async () => {
    const profileId = `user_id:${uid()}`;
    const healthy = message([eventRecord(profileId, `${profileId}-healthy`)]);
    const doomed = message([eventRecord(profileId, `${profileId}-doomed`)]);
    const bundle = bundleOf([healthy, doomed]);
    const { sent, queue } = capturingQueue();
    const result = await deliver([bundle], CHANGES_QUEUE, {
      WAREHOUSE: warehouseRefusing("-doomed"),
      SINK_QUEUE: queue,
    });
    expect(result.explicitAcks).toEqual([bundle.id]);
    expect(result.retryMessages).toEqual([]);
    expect(sent).toEqual([JSON.parse(String(doomed.body))]);
    expect(await d1Count("SELECT COUNT(*) AS n FROM events WHERE profile_id = ?", profileId)).toBe(1);
  });

  it("retries the whole bundle when its failing run cannot be sent back", async () => {
    const profileId = `user_id:${uid()}`;
    const bundle = bundleOf([
      message([eventRecord(profileId, `${profileId}-doomed`)]),
      message([eventRecord(profileId, `${profileId}-ok`)]),
    ]);
    const queueDown = { sendBatch: () => Promise.reject(new Error("queue unavailable")) } as unknown as Queue<string>;
    const result = await deliver([bundle], CHANGES_QUEUE, {
      WAREHOUSE: warehouseRefusing("-doomed"),
      SINK_QUEUE: queueDown,
    });
    expect(result.retryMessages.map((r: { msgId: string }) => r.msgId)).toEqual([bundle.id]);
    // Applied again on the retry, idempotently.
    expect((await deliver([bundle])).explicitAcks).toEqual([bundle.id]);
    expect(await d1Count("SELECT COUNT(*) AS n FROM events WHERE profile_id = ?", profileId)).toBe(2);
  });

  it("keeps a dead-lettered bundle once, owned by every person in it", async () => {
    const a = `user_id:${uid()}`;
    const b = `user_id:${uid()}`;
    const bundle = {
      ...bundleOf([message([eventRecord(a, `${a}-1`)]), message([eventRecord(b, `${b}-1`)])]),
      attempts: 6,
    };
    expect((await deliver([bundle], DEAD_LETTER_QUEUE)).ackAll).toBe(true);
    await deliver([bundle], DEAD_LETTER_QUEUE);
    const rows = await env.WAREHOUSE.prepare("SELECT profile_ids FROM dead_letters WHERE message_id = ?")
      .bind(bundle.id)
      .all<{ profile_ids: string }>();
    expect(rows.results).toHaveLength(1);
    expect(JSON.parse(rows.results[0]?.profile_ids ?? "[]")).toEqual(expect.arrayContaining([a, b]));
  });
});

describe("the operator's view", () => {
  it("reports rows per table, the consumer's last batch and the lake's objects", async () => {
    const profileId = `user_id:${uid()}`;
    await deliver([message([eventRecord(profileId, `${profileId}-s1`), profileRecord(profileId, 1, {})])]);
    const status = await readJson<{
      tables: { events: number; profiles: number };
      written: { events: number };
      consumer: { batches: number; statements: number; lastBatchAt: string | null; lastLagMs: number | null };
      kafka: { enabled: boolean };
    }>("/v1/sink/status");
    expect(status.tables.events).toBeGreaterThan(0);
    expect(status.tables.profiles).toBeGreaterThan(0);
    expect(status.written.events).toBeGreaterThanOrEqual(status.tables.events);
    expect(status.consumer.batches).toBeGreaterThan(0);
    expect(status.consumer.statements).toBeGreaterThan(status.consumer.batches);
    expect(Date.parse(status.consumer.lastBatchAt ?? "")).toBeGreaterThan(Date.now() - 60_000);
    expect(status.kafka.enabled).toBe(false);

    const lake = await readJson<{ objects: { key: string; lines: number }[] }>("/v1/sink/lake");
    expect(lake.objects.length).toBeGreaterThan(0);
    expect(lake.objects.every((o) => o.lines > 0 && o.key.startsWith("raw/events/dt="))).toBe(true);
  });

  it("shows a batch the consumer is still applying, with the step it is waiting on", async () => {
    type InProgress = { messages: number; step: string; since: string };
    const inProgress = async () =>
      (await readJson<{ consumer: { inProgress: InProgress[] }; buffers: unknown }>("/v1/sink/status")).consumer
        .inProgress;
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    // A warehouse whose write does not answer until the test lets it: what a hung D1 call looks like from outside.
    const slowWarehouse = {
      prepare: (query: string) => env.WAREHOUSE.prepare(query),
      batch: async (statements: D1PreparedStatement[]) => {
        await held;
        return env.WAREHOUSE.batch(statements);
      },
    } as unknown as D1Database;
    const profileId = `user_id:${uid()}`;
    const delivered = deliver([message([eventRecord(profileId, `${profileId}-held`)])], CHANGES_QUEUE, {
      WAREHOUSE: slowWarehouse,
    });
    await eventually(async () => (await inProgress()).length > 0, "the held batch in the status");
    const [batch] = await inProgress();
    expect(batch?.messages).toBe(1);
    expect(batch?.step).toContain("writing the warehouse");
    release();
    await delivered;
    expect(await inProgress()).toEqual([]);
  });

  it("has no sink buffers to show where runs go straight to the Queue", async () => {
    expect((await readJson<{ buffers: unknown }>("/v1/sink/status")).buffers).toBeNull();
  });
});
