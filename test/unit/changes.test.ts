import { describe, expect, it } from "vitest";
import type { DecayingScore } from "../../src/model/affinity";
import {
  BUNDLE_RUNS,
  type ChangeRecord,
  changeMessage,
  changeRecord,
  changeRecordsOf,
  type OutboxRow,
  type PackedMessage,
  packBundles,
  packOutbox,
  QUEUE_LIMITS,
  retryDelayMs,
  runsOfBody,
} from "../../src/model/changes";
import type { ProfileEvent } from "../../src/model/messages";
import { applyEvents, CAPS, type ProfileMemory } from "../../src/model/profile";
import type { Session } from "../../src/model/sessions";
import { readSettings } from "../../src/model/settings";
import {
  ACTOR_KEY,
  DAY,
  defined,
  emptyMemory,
  eventChange,
  MINUTE,
  profileChange,
  profileEvent,
  sessionChange,
  storedProfile,
  T0,
} from "./fixtures";

const SETTINGS = readSettings({}, () => {});
const KEY = ACTOR_KEY;
const PROFILE_ID = "user_id:u-1";
const NOW = T0 + DAY;

function storedSession(number: number, at: number): Session {
  return { number, startedAt: at, endedAt: at, events: 1, pages: 0, revenue: 0, landingPage: null };
}

const viewed = (productId: string, at: number, extra: Record<string, unknown> = {}) =>
  profileEvent({ name: "Product Viewed", timestamp: at, properties: { product_id: productId, ...extra } });

const identify = (traits: Record<string, unknown>, at: number) =>
  profileEvent({ type: "identify", timestamp: at, traits });

/** Applies the events for real, then turns the batch's changes into records. */
function recordsOf(memory: ProfileMemory, events: ProfileEvent[], now = NOW): ChangeRecord[] {
  const changes = applyEvents(memory, KEY, events, SETTINGS, now);
  return changeRecordsOf(PROFILE_ID, events, changes, now);
}

function ofKind<K extends ChangeRecord["kind"]>(records: readonly ChangeRecord[], kind: K) {
  return records.filter((r): r is Extract<ChangeRecord, { kind: K }> => r.kind === kind);
}

describe("change records of an applied batch", () => {
  it("writes one event record per event, naming the session each was counted in", () => {
    const order = profileEvent({
      name: "Order Completed",
      timestamp: T0 + 2 * SETTINGS.sessionTimeoutMs,
      properties: { revenue: 42.5, products: [{ product_id: "bag-1" }] },
    });
    const page = profileEvent({ type: "page", timestamp: T0, properties: { url: "https://shop.example/" } });
    const view = viewed("shoe-1", T0 + MINUTE);
    const events = [order, page, view];
    const records = ofKind(recordsOf(emptyMemory(), events), "event");
    expect(records.map((r) => [r.event.messageId, r.event.sessionNumber])).toEqual([
      [order.messageId, 2],
      [page.messageId, 1],
      [view.messageId, 1],
    ]);
    expect(records.map((r) => [r.event.productId, r.event.revenue])).toEqual([
      ["bag-1", 42.5],
      [null, 0],
      ["shoe-1", 0],
    ]);
    expect(defined(records[1]).event).toMatchObject({
      type: "page",
      timestamp: T0,
      properties: { url: "https://shop.example/" },
    });
  });

  it("a late event's record is counted in no session", () => {
    const memory = { ...emptyMemory(), profile: storedProfile({ sessionCount: 2 }), sessions: [storedSession(2, T0)] };
    const late = viewed("a", T0 - DAY);
    const [record] = ofKind(recordsOf(memory, [late]), "event");
    expect(defined(record).event).toMatchObject({ messageId: late.messageId, sessionNumber: null });
  });

  it("stamps every record with the profile id, the batch's new version and the batch's clock", () => {
    const memory = { ...emptyMemory(), profile: storedProfile({ version: 4 }) };
    const records = recordsOf(memory, [viewed("a", T0 + MINUTE), viewed("b", T0 + 2 * MINUTE)]);
    expect(records.length).toBeGreaterThan(3);
    for (const r of records)
      expect({ profileId: r.profileId, version: r.version, at: r.at }).toEqual({
        profileId: PROFILE_ID,
        version: 5,
        at: NOW,
      });
  });

  it("writes exactly one profile record with the profile as the batch left it", () => {
    const memory = { ...emptyMemory(), profile: storedProfile({ eventCount: 3, version: 7 }) };
    const events = [
      identify({ email: "ada@example.com" }, T0 + MINUTE),
      profileEvent({ type: "group", groupId: "g-1", anonymousId: "anon-1", timestamp: T0 + 2 * MINUTE }),
    ];
    const profiles = ofKind(recordsOf(memory, events), "profile");
    expect(profiles).toHaveLength(1);
    expect(defined(profiles[0])).toMatchObject({
      version: 8,
      profile: {
        userId: "u-1",
        anonymousIds: ["anon-1"],
        traits: { email: "ada@example.com" },
        traitsOmitted: false,
        groupIds: ["g-1"],
        firstSeen: T0,
        lastSeen: T0 + 2 * MINUTE,
        eventCount: 5,
        sessionCount: 1,
      },
    });
  });

  it("writes a record for each session the batch opened or extended, and none for sessions it left alone", () => {
    const memory = {
      ...emptyMemory(),
      profile: storedProfile({ sessionCount: 2 }),
      sessions: [storedSession(1, T0 - DAY), storedSession(2, T0)],
    };
    const events = [viewed("a", T0 + MINUTE), viewed("b", T0 + DAY)];
    const sessions = ofKind(recordsOf(memory, events, T0 + DAY), "session");
    expect(sessions.map((r) => r.session)).toEqual([
      { number: 2, startedAt: T0, endedAt: T0 + MINUTE, events: 2, pages: 0, revenue: 0, landingPage: null },
      { number: 3, startedAt: T0 + DAY, endedAt: T0 + DAY, events: 1, pages: 0, revenue: 0, landingPage: null },
    ]);
  });

  it("writes the score of every dimension the batch changed", () => {
    const records = recordsOf(emptyMemory(), [viewed("shoe-1", T0, { category: "Shoes", brand: "Acme" })]);
    const w = SETTINGS.weights.viewed;
    expect(
      ofKind(records, "affinity")
        .map((r) => [r.dimension, r.score, r.asOf])
        .sort(),
    ).toEqual([
      ["brand:acme", w, T0],
      ["category:shoes", w, T0],
      ["product:shoe-1", w, T0],
    ]);
  });

  it("writes a forgotten dimension as score 0 at the batch's clock", () => {
    const affinities = new Map<string, DecayingScore>(
      Array.from({ length: CAPS.affinities }, (_, i) => [`category:old-${i}`, { score: i === 0 ? 0.1 : 10, asOf: T0 }]),
    );
    const memory = { ...emptyMemory(), affinities };
    const records = recordsOf(memory, [viewed("shoe-1", T0)], T0 + MINUTE);
    const forgotten = ofKind(records, "affinity").filter((r) => r.dimension === "category:old-0");
    expect(forgotten.map((r) => [r.score, r.asOf])).toEqual([[0, T0 + MINUTE]]);
    expect(ofKind(records, "affinity").map((r) => r.dimension)).toContain("product:shoe-1");
  });

  it("every record of a mixed batch validates against the changeRecord schema, also after a JSON round trip", () => {
    const memory = { ...emptyMemory(), profile: storedProfile(), sessions: [storedSession(1, T0)] };
    const events = [
      profileEvent({ type: "page", timestamp: T0 + MINUTE, context: { page: { url: "https://shop.example/a" } } }),
      viewed("shoe-1", T0 + 2 * MINUTE, { category: "Shoes" }),
      profileEvent({ name: "Order Completed", timestamp: T0 + 3 * MINUTE, properties: { total: 10 } }),
      identify({ plan: "gold", nested: { a: [1, 2] } }, T0 + 4 * MINUTE),
      profileEvent({ type: "group", groupId: "g-1", timestamp: T0 + 5 * MINUTE }),
      viewed("late", T0 - DAY),
    ];
    const records = recordsOf(memory, events);
    expect(new Set(records.map((r) => r.kind))).toEqual(new Set(["event", "profile", "session", "affinity"]));
    for (const r of records) {
      expect(changeRecord.safeParse(r).success).toBe(true);
      expect(changeRecord.parse(JSON.parse(JSON.stringify(r)))).toEqual(r);
    }
  });

  it("carries traits that fit", () => {
    const bio = "x".repeat(20_000);
    const [profile] = ofKind(recordsOf(emptyMemory(), [identify({ bio }, T0)]), "profile");
    expect(defined(profile).profile).toMatchObject({ traits: { bio }, traitsOmitted: false });
  });

  it("measures traits in UTF-8 bytes, so multi-byte text cannot slip a profile record past the Queue's limit", () => {
    // 9,500 three-byte characters per trait: under 32 KB per message, about 142 KB together.
    const events = Array.from({ length: 5 }, (_, i) => identify({ [`t${i}`]: "日".repeat(9_500) }, T0 + i * MINUTE));
    const [profile] = ofKind(recordsOf(emptyMemory(), events), "profile");
    expect(defined(profile).profile.traitsOmitted).toBe(true);
    expect(new TextEncoder().encode(JSON.stringify(profile)).length).toBeLessThan(QUEUE_LIMITS.messageBytes);
  });

  it("leaves out traits too large for a Queue message and says so, keeping the events' own traits", () => {
    // Each identify is under the 32 KB message limit; together they are not.
    const events = [identify({ a: "x".repeat(30_000) }, T0), identify({ b: "y".repeat(30_000) }, T0 + MINUTE)];
    const records = recordsOf(emptyMemory(), events);
    const [profile] = ofKind(records, "profile");
    expect(defined(profile).profile).toMatchObject({ traits: {}, traitsOmitted: true, eventCount: 2 });
    expect(JSON.stringify(profile).length).toBeLessThan(1_000);
    expect(ofKind(records, "event").map((r) => Object.keys(r.event.traits))).toEqual([["a"], ["b"]]);
    expect(changeRecord.safeParse(profile).success).toBe(true);
  });
});

const encoder = new TextEncoder();
const byteLength = (text: string) => encoder.encode(text).length;
const ACTOR = "user:u-1";

/** Outbox rows as the actor stores them; seqs have gaps, as after deletes. */
function outboxRows(records: readonly ChangeRecord[], firstSeq = 100): OutboxRow[] {
  return records.map((r, i) => {
    const record = JSON.stringify(r);
    return { seq: firstSeq + 2 * i, record, bytes: byteLength(record) };
  });
}

/** Events of uneven sizes with multi-byte text, so bytes and characters differ. */
function unevenEvents(count: number): ChangeRecord[] {
  return Array.from({ length: count }, (_, i) =>
    eventChange({ properties: { note: "é".repeat(50 + ((i * 37) % 200)) } }, { version: i + 1 }),
  );
}

// `batchMessages` stays at the Queue's 100: packOutbox's limits are typed after QUEUE_LIMITS, whose count is a literal.
const SMALL_LIMITS = { messageBytes: 2_000, batchBytes: 5_000, batchMessages: QUEUE_LIMITS.batchMessages };

function bodyOf(m: PackedMessage) {
  return changeMessage.parse(JSON.parse(m.body));
}

describe("packing the outbox into Queue messages", () => {
  const rows = outboxRows([
    ...unevenEvents(40),
    profileChange({}, { version: 41 }),
    sessionChange({}, { version: 41 }),
  ]);
  const batches = packOutbox(ACTOR, rows, SMALL_LIMITS);
  const messages = batches.flat();

  it("carries every row exactly once, in seq order", () => {
    const carried = messages.flatMap((m) => (JSON.parse(m.body) as { records: unknown[] }).records);
    expect(carried).toEqual(rows.map((r) => JSON.parse(r.record)));
  });

  it("packs several rows into one message when they fit", () => {
    expect(messages.length).toBeLessThan(rows.length / 2);
    expect(messages.every((m) => m.count > 1)).toBe(true);
  });

  it("keeps every message body within the message byte limit", () => {
    for (const m of messages) {
      expect(byteLength(m.body)).toBeLessThanOrEqual(SMALL_LIMITS.messageBytes);
      expect(m.bytes).toBeGreaterThanOrEqual(byteLength(m.body));
    }
  });

  it(`closes a bundle at ${BUNDLE_RUNS} runs even when its bytes would allow more`, () => {
    const tiny = Array.from({ length: BUNDLE_RUNS + 5 }, (_, i) => ({ body: `{"n":${i}}`, bytes: 10 }));
    const out = packBundles(tiny, { messageBytes: 10_000_000, batchBytes: 100_000_000, batchMessages: 100 }).flat();
    expect(out.map((b) => b.runs)).toEqual([BUNDLE_RUNS, 5]);
  });

  it("keeps every sendBatch within the message count and byte limits", () => {
    expect(batches.length).toBeGreaterThan(1);
    for (const batch of batches) {
      expect(batch.length).toBeLessThanOrEqual(SMALL_LIMITS.batchMessages);
      expect(batch.reduce((n, m) => n + byteLength(m.body), 0)).toBeLessThanOrEqual(SMALL_LIMITS.batchBytes);
    }
  });

  it("every body is a change message whose seqs and count match the rows it carries", () => {
    let next = 0;
    for (const m of messages) {
      const body = bodyOf(m);
      const carried = rows.slice(next, next + m.count);
      next += m.count;
      expect(body.actor).toBe(ACTOR);
      expect(body.records).toHaveLength(m.count);
      expect([body.firstSeq, body.lastSeq]).toEqual([defined(carried[0]).seq, defined(carried.at(-1)).seq]);
      expect([m.firstSeq, m.lastSeq]).toEqual([body.firstSeq, body.lastSeq]);
    }
    expect(next).toBe(rows.length);
  });

  it("sends a row larger than a message alone rather than dropping it", () => {
    const big = eventChange({ properties: { note: "z".repeat(5_000) } });
    const mixed = outboxRows([eventChange(), big, eventChange()], 1);
    const out = packOutbox(ACTOR, mixed, SMALL_LIMITS).flat();
    expect(out.map((m) => [m.firstSeq, m.lastSeq, m.count])).toEqual([
      [1, 1, 1],
      [3, 3, 1],
      [5, 5, 1],
    ]);
    expect(bodyOf(defined(out[1])).records).toEqual([big]);
  });

  it("puts a message larger than a sendBatch's byte limit in a batch of its own", () => {
    const big = eventChange({ properties: { note: "z".repeat(SMALL_LIMITS.batchBytes) } });
    const out = packOutbox(ACTOR, outboxRows([eventChange(), big, eventChange()], 1), SMALL_LIMITS);
    expect(out.map((batch) => batch.map((m) => m.firstSeq))).toEqual([[1], [3], [5]]);
  });

  it(`sends at most ${QUEUE_LIMITS.batchMessages} messages per sendBatch`, () => {
    const tiny = outboxRows(
      Array.from({ length: 250 }, () => eventChange()),
      1,
    );
    const limits = { messageBytes: 600, batchBytes: 10_000_000, batchMessages: QUEUE_LIMITS.batchMessages };
    const out = packOutbox(ACTOR, tiny, limits);
    expect(out.map((batch) => batch.length)).toEqual([100, 100, 50]);
    expect(out.flat().every((m) => m.count === 1)).toBe(true);
  });

  it("gives no batches for an empty outbox", () => {
    expect(packOutbox(ACTOR, [])).toEqual([]);
  });

  it("fits a thousand realistic rows under the real Queue limits", () => {
    const many = outboxRows(unevenEvents(1_000), 1);
    const real = packOutbox(ACTOR, many);
    for (const batch of real) {
      expect(batch.length).toBeLessThanOrEqual(QUEUE_LIMITS.batchMessages);
      expect(batch.reduce((n, m) => n + byteLength(m.body), 0)).toBeLessThanOrEqual(QUEUE_LIMITS.batchBytes);
      for (const m of batch) expect(byteLength(m.body)).toBeLessThanOrEqual(QUEUE_LIMITS.messageBytes);
    }
    expect(real.flat().reduce((n, m) => n + m.count, 0)).toBe(1_000);
  });
});

describe("bundling many actors' runs into Queue messages (the sink buffer)", () => {
  // Small runs of forty actors (a browser's batch each), packed as each actor's outbox packs them.
  const runs = Array.from({ length: 40 }, (_, i) =>
    packOutbox(`user:${i}`, outboxRows(unevenEvents(2)), SMALL_LIMITS).flat(),
  ).flat();
  const limits = { messageBytes: 12_000, batchBytes: 30_000, batchMessages: 2 };
  const batches = packBundles(runs, limits);
  const bundles = batches.flat();

  it("carries every run exactly once, in order, as the change message it was", () => {
    const carried = bundles.flatMap((b) => runsOfBody(b.body)?.runs ?? []);
    expect(carried).toEqual(runs.map((r) => JSON.parse(r.body)));
    expect(carried.every((r) => changeMessage.safeParse(r).success)).toBe(true);
  });

  it("puts several runs in one message and keeps each within the message byte limit", () => {
    expect(bundles.length).toBeLessThan(runs.length / 2);
    for (const b of bundles) {
      expect(byteLength(b.body)).toBeLessThanOrEqual(limits.messageBytes);
      expect(b.bytes).toBeGreaterThanOrEqual(byteLength(b.body));
    }
    expect(bundles.reduce((n, b) => n + b.runs, 0)).toBe(runs.length);
  });

  it("keeps every sendBatch within the message count and byte limits", () => {
    expect(batches.length).toBeGreaterThan(1);
    for (const batch of batches) {
      expect(batch.length).toBeLessThanOrEqual(limits.batchMessages);
      expect(batch.reduce((n, b) => n + byteLength(b.body), 0)).toBeLessThanOrEqual(limits.batchBytes);
    }
  });

  it("reads a lone change message as one run, not a bundle, and refuses text that is not JSON", () => {
    const lone = defined(runs[0]);
    expect(runsOfBody(lone.body)).toEqual({ bundled: false, runs: [JSON.parse(lone.body)] });
    expect(runsOfBody("{not json")).toBeNull();
  });
});

describe("retrying a failed flush", () => {
  it("waits one second after the first failure and doubles with each further one", () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => retryDelayMs(n, 0.5))).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000]);
  });

  it("stops growing at a minute", () => {
    expect([7, 8, 50, 5_000].map((n) => retryDelayMs(n, 0.5))).toEqual([60_000, 60_000, 60_000, 60_000]);
  });

  it("jitters between half and one and a half times the delay", () => {
    expect([retryDelayMs(1, 0), retryDelayMs(1, 1)]).toEqual([500, 1_500]);
    expect([retryDelayMs(3, 0), retryDelayMs(3, 0.75)]).toEqual([2_000, 5_000]);
    expect([retryDelayMs(20, 0), retryDelayMs(20, 1)]).toEqual([30_000, 90_000]);
  });

  it("never shrinks as failures mount and never exceeds a minute and a half", () => {
    for (const random of [0, 0.25, 0.5, 0.999]) {
      const delays = Array.from({ length: 40 }, (_, i) => retryDelayMs(i + 1, random));
      expect(delays).toEqual([...delays].sort((a, b) => a - b));
      expect(Math.max(...delays)).toBeLessThanOrEqual(90_000);
      expect(Math.min(...delays)).toBeGreaterThanOrEqual(500);
    }
  });
});
