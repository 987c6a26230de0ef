import { describe, expect, it } from "vitest";
import type { ChangeRecord } from "../../src/model/changes";
import { chunkByJsonSize, warehouseRowsOf } from "../../src/model/warehouse-rows";
import { affinityChange, eventChange, MINUTE, profileChange, sessionChange, T0 } from "./fixtures";

const ADA = "user_id:ada";
const BOB = "user_id:bob";

describe("warehouse rows of a consumer batch", () => {
  it("turns an event record into one positional row", () => {
    const e = eventChange(
      {
        messageId: "m-order",
        userId: "ada",
        anonymousId: "anon-1",
        name: "Order Completed",
        timestamp: T0,
        receivedAt: T0 + 5,
        sessionNumber: 3,
        productId: "bag-1",
        revenue: 42.5,
        properties: { total: 42.5 },
        traits: { plan: "gold" },
        context: { ip: "203.0.113.1" },
      },
      { profileId: ADA },
    );
    expect(warehouseRowsOf([e]).events).toEqual([
      [
        "m-order",
        ADA,
        "ada",
        "anon-1",
        "track",
        "Order Completed",
        T0,
        T0 + 5,
        3,
        "bag-1",
        42.5,
        { total: 42.5 },
        { plan: "gold" },
        { ip: "203.0.113.1" },
      ],
    ]);
  });

  it("keeps the first occurrence of a redelivered messageId", () => {
    const first = eventChange({ messageId: "m-1", name: "First" }, { version: 1 });
    const again = eventChange({ messageId: "m-1", name: "Again" }, { version: 2 });
    const other = eventChange({ messageId: "m-2" });
    const rows = warehouseRowsOf([first, other, again]).events;
    expect(rows.map((r) => [r[0], r[5]])).toEqual([
      ["m-1", "First"],
      ["m-2", "Product Viewed"],
    ]);
  });

  it("keeps the newest version of a profile whatever order the records came in", () => {
    const versions = [2, 5, 3];
    const records = versions.map((v) => profileChange({ eventCount: v * 10 }, { profileId: ADA, version: v }));
    for (const order of [records, [...records].reverse()]) {
      const { profiles } = warehouseRowsOf(order);
      expect(profiles.map((p) => [p[0], p[7], p[9]])).toEqual([[ADA, 50, 5]]);
    }
  });

  it("keeps one profile row per profile", () => {
    const { profiles } = warehouseRowsOf([
      profileChange({ userId: "ada" }, { profileId: ADA, version: 4 }),
      profileChange({ userId: "bob" }, { profileId: BOB, version: 1 }),
    ]);
    expect(profiles.map((p) => [p[0], p[1], p[9]])).toEqual([
      [ADA, "ada", 4],
      [BOB, "bob", 1],
    ]);
  });

  it("sends a newest profile whose traits were left out to profilesWithoutTraits only", () => {
    const rows = warehouseRowsOf([
      profileChange({ traits: { plan: "gold" } }, { profileId: ADA, version: 1 }),
      profileChange({ traitsOmitted: true }, { profileId: ADA, version: 2 }),
      profileChange({ traitsOmitted: true }, { profileId: BOB, version: 1 }),
      profileChange({ traits: { plan: "basic" } }, { profileId: BOB, version: 2 }),
    ]);
    expect(rows.profilesWithoutTraits.map((p) => [p[0], p[9]])).toEqual([[ADA, 2]]);
    expect(rows.profiles.map((p) => [p[0], p[3], p[9]])).toEqual([[BOB, { plan: "basic" }, 2]]);
  });

  it("keeps the newest version of each session per profile and session number", () => {
    const rows = warehouseRowsOf([
      sessionChange({ number: 1, events: 9 }, { profileId: ADA, version: 9 }),
      sessionChange({ number: 1, events: 3 }, { profileId: ADA, version: 3 }),
      sessionChange({ number: 2, events: 1 }, { profileId: ADA, version: 3 }),
      sessionChange({ number: 1, events: 1 }, { profileId: BOB, version: 1 }),
      sessionChange({ number: 2, events: 4 }, { profileId: ADA, version: 4 }),
    ]);
    expect(rows.sessions.map((s) => [s[0], s[1], s[4], s[8]]).sort()).toEqual([
      [ADA, 1, 9, 9],
      [ADA, 2, 4, 4],
      [BOB, 1, 1, 1],
    ]);
  });

  it("keeps the newest score of each dimension per profile, including a forgotten one", () => {
    const rows = warehouseRowsOf([
      affinityChange("category:shoes", 0, { profileId: ADA, version: 6 }),
      affinityChange("category:shoes", 4, { profileId: ADA, version: 5 }),
      affinityChange("category:shoes", 2, { profileId: BOB, version: 1 }),
      affinityChange("brand:acme", 1, { profileId: ADA, version: 2 }),
      affinityChange("brand:acme", 3, { profileId: ADA, version: 7, at: T0 + MINUTE }),
    ]);
    expect(rows.affinities.map((a) => [a[0], a[1], a[2], a[3], a[4]]).sort()).toEqual([
      [ADA, "brand:acme", 3, T0 + MINUTE, 7],
      [ADA, "category:shoes", 0, T0, 6],
      [BOB, "category:shoes", 2, T0, 1],
    ]);
  });

  it("reports the oldest change in the batch, whatever its kind", () => {
    const records: ChangeRecord[] = [
      profileChange({}, { at: T0 + 3 * MINUTE }),
      sessionChange({}, { at: T0 + MINUTE }),
      eventChange({}, { at: T0 + 2 * MINUTE }),
      affinityChange("brand:acme", 1, { at: T0 + 4 * MINUTE }),
    ];
    expect(warehouseRowsOf(records).oldestChangeAt).toBe(T0 + MINUTE);
  });

  it("gives empty rows and no oldest change for an empty batch", () => {
    expect(warehouseRowsOf([])).toEqual({
      events: [],
      profiles: [],
      profilesWithoutTraits: [],
      sessions: [],
      affinities: [],
      exposures: [],
      audienceMemberships: [],
      deliveries: [],
      oldestChangeAt: null,
    });
  });

  it("keeps an audience stint's exit over its entry, whichever comes first in the batch", () => {
    const head = { profileId: "user_id:1", version: 1, at: 5 };
    const entered = { kind: "audience" as const, ...head, audience: { key: "vip", enteredAt: 3, exitedAt: null } };
    const exited = { kind: "audience" as const, ...head, audience: { key: "vip", enteredAt: 3, exitedAt: 4 } };
    expect(warehouseRowsOf([entered, exited]).audienceMemberships).toEqual([["vip", "user_id:1", 3, 4]]);
    expect(warehouseRowsOf([exited, entered]).audienceMemberships).toEqual([["vip", "user_id:1", 3, 4]]);
  });
});

describe("chunking rows for D1's JSON parameters", () => {
  const rows = Array.from({ length: 60 }, (_, i) => [`row-${i}`, "é".repeat((i * 13) % 40), i]);

  it("puts every row in exactly one chunk, in order, each chunk a JSON array within the limit", () => {
    const chunks = chunkByJsonSize(rows, 200);
    expect(chunks.length).toBeGreaterThan(5);
    for (const chunk of chunks) {
      expect(chunk.length).toBeLessThanOrEqual(200);
      expect(Array.isArray(JSON.parse(chunk))).toBe(true);
    }
    expect(chunks.flatMap((c) => JSON.parse(c) as unknown[])).toEqual(rows);
  });

  it("packs several rows into a chunk when they fit", () => {
    const chunks = chunkByJsonSize(rows, 200);
    expect(chunks.length).toBeLessThan(rows.length / 2);
  });

  it("keeps all rows in one chunk under the default limit", () => {
    expect(chunkByJsonSize(rows)).toEqual([JSON.stringify(rows)]);
  });

  it("gives a row longer than the limit a chunk of its own", () => {
    const big = ["big", "x".repeat(500)];
    const chunks = chunkByJsonSize([["a"], big, ["b"]], 100);
    expect(chunks).toEqual(['[["a"]]', JSON.stringify([big]), '[["b"]]']);
  });

  it("gives no chunks for no rows", () => {
    expect(chunkByJsonSize([])).toEqual([]);
  });
});
