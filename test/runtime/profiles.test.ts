import { abortAllDurableObjects, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { CAPS } from "../../src/model/profile";
import type { ProfileView as Profile } from "../../src/model/views";
import { read, readJson, sendBatch, uid } from "./helpers";

const minutes = (n: number) => n * 60_000;

describe("profile reads", () => {
  it("answers 401 without an API key and with a wrong one", async () => {
    expect((await read("/v1/profiles/user_id:1", "")).status).toBe(401);
    expect((await read("/v1/profiles/user_id:1", "wrong")).status).toBe(401);
  });

  it("accepts the second configured API key (rotation)", async () => {
    expect((await read(`/v1/profiles/user_id:${uid()}`, "test-api-key-old")).status).toBe(404);
  });

  it("answers 404 with a JSON error for someone never seen", async () => {
    const res = await read(`/v1/profiles/user_id:${uid()}`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("profile_not_found");
  });

  it("answers 400 for an empty id, saying which forms work", async () => {
    const res = await read("/v1/profiles/user_id:%20");
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/user_id/);
    expect((await read("/v1/profiles/email:%20")).status).toBe(400);
  });

  it("resolves bare, user_id: and anonymous_id: forms", async () => {
    const userId = uid();
    const anonymousId = uid("anon");
    const visitor = uid("anon");
    await sendBatch([
      { type: "page", userId, anonymousId },
      { type: "page", anonymousId: visitor },
    ]);
    const byPrefix = await readJson<Profile>(`/v1/profiles/user_id:${userId}`);
    const bare = await readJson<Profile>(`/v1/profiles/${userId}`);
    expect(bare).toEqual(byPrefix);
    expect(byPrefix.id).toBe(`user_id:${userId}`);
    expect(byPrefix.anonymousIds).toEqual([anonymousId]);
    const anon = await readJson<Profile>(`/v1/profiles/anonymous_id:${visitor}`);
    expect(anon.id).toBe(`anonymous_id:${visitor}`);
    expect(anon.userId).toBeNull();
    // An anonymous id seen with the user is the user's.
    expect(await readJson<Profile>(`/v1/profiles/anonymous_id:${anonymousId}`)).toEqual(byPrefix);
  });

  it("splits sessions after 30 minutes of inactivity and keeps each session's facts", async () => {
    const userId = uid();
    const t0 = Date.now() - minutes(120);
    const at = (m: number) => new Date(t0 + minutes(m)).toISOString();
    await sendBatch([
      { type: "page", userId, timestamp: at(0), properties: { url: "https://shop.example.com/a" } },
      { type: "page", userId, timestamp: at(10), properties: { url: "https://shop.example.com/b" } },
      { type: "track", userId, timestamp: at(29), event: "Order Completed", properties: { revenue: 30.5 } },
      // 31 minutes of silence: a new visit.
      { type: "page", userId, timestamp: at(60), properties: { url: "https://shop.example.com/c" } },
    ]);
    const p = await readJson<Profile>(`/v1/profiles/user_id:${userId}`);
    expect(p.counts.sessions).toBe(2);
    expect(p.session.current).toBeNull();
    const [second, first] = p.session.recent;
    expect(first).toMatchObject({
      number: 1,
      events: 3,
      pages: 2,
      revenue: 30.5,
      landingPage: "https://shop.example.com/a",
    });
    expect(first?.durationSeconds).toBe(29 * 60);
    expect(second).toMatchObject({ number: 2, events: 1, pages: 1, landingPage: "https://shop.example.com/c" });
  });

  it("reports the current session while the visitor is active", async () => {
    const userId = uid();
    await sendBatch([{ type: "page", userId }]);
    const p = await readJson<Profile>(`/v1/profiles/user_id:${userId}`);
    expect(p.session.current?.number).toBe(1);
    expect(p.session.recent).toEqual([]);
  });

  it("keeps the newer trait when an older identify arrives late", async () => {
    const userId = uid();
    const now = Date.now();
    await sendBatch([
      { type: "identify", userId, timestamp: new Date(now - 1_000).toISOString(), traits: { plan: "pro" } },
    ]);
    await sendBatch([
      {
        type: "identify",
        userId,
        timestamp: new Date(now - 60_000).toISOString(),
        traits: { plan: "free", city: "Oslo" },
      },
    ]);
    const p = await readJson<Profile>(`/v1/profiles/user_id:${userId}`);
    expect(p.traits).toEqual({ plan: "pro", city: "Oslo" });
  });

  it("lists events newest first, honouring limit, and refuses a bad limit", async () => {
    const userId = uid();
    const now = Date.now();
    await sendBatch(
      ["First", "Second", "Third"].map((event, i) => ({
        type: "track",
        userId,
        event,
        timestamp: new Date(now - 3_000 + i * 1_000).toISOString(),
      })),
    );
    await sendBatch([{ type: "track", userId, event: "Fourth" }]);
    const { events } = await readJson<{ events: { name: string }[] }>(`/v1/profiles/${userId}/events?limit=2`);
    expect(events.map((e) => e.name)).toEqual(["Fourth", "Third"]);
    for (const bad of ["0", "-1", "abc", "1.5", "100000"]) {
      expect((await read(`/v1/profiles/${userId}/events?limit=${bad}`)).status, bad).toBe(400);
    }
    expect((await read(`/v1/profiles/${uid()}/events`)).status).toBe(404);
  });

  it("answers the same after its actor is evicted and rebuilt from storage", async () => {
    const userId = uid();
    await sendBatch([
      { type: "identify", userId, traits: { name: "Jane" } },
      {
        type: "track",
        userId,
        event: "Product Viewed",
        properties: { product_id: "p1", category: "Shoes", brand: "Stride" },
      },
      { type: "track", userId, event: "Order Completed", properties: { products: [{ product_id: "p2", price: 10 }] } },
    ]);
    const before = await readJson<Profile>(`/v1/profiles/user_id:${userId}`);
    const recsBefore = await readJson(`/v1/profiles/user_id:${userId}/recommendations`);
    await abortAllDurableObjects();
    const after = await readJson<Profile>(`/v1/profiles/user_id:${userId}`);
    expect(after).toEqual(before);
    const recsAfter = await readJson(`/v1/profiles/user_id:${userId}/recommendations`);
    expect({ ...recsAfter, generatedAt: null }).toEqual({ ...recsBefore, generatedAt: null });
    // And it keeps deduplicating after the rebuild.
    expect(after.version).toBe(before.version);
  });

  it("stays bounded in storage however many distinct things a person touches", async () => {
    const userId = uid();
    for (let chunk = 0; chunk < 3; chunk++) {
      await sendBatch(
        Array.from({ length: 200 }, (_, i) => ({
          type: "track",
          userId,
          event: "Product Viewed",
          properties: { product_id: `bulk-${chunk}-${i}`, category: `cat-${chunk}-${i}` },
        })),
      );
    }
    const p = await readJson<Profile>(`/v1/profiles/user_id:${userId}`);
    expect(p.counts.events).toBe(600);
    const stub = env.PROFILES.get(env.PROFILES.idFromName(`user:${userId}`));
    const rows = await runInDurableObject(stub, (_instance, state) => {
      const count = (table: string) => state.storage.sql.exec(`SELECT COUNT(*) AS n FROM ${table}`).one().n as number;
      return {
        affinities: count("affinities"),
        products: count("product_history"),
        events: count("recent_events"),
        seen: count("seen_messages"),
        newestBatchKept: state.storage.sql
          .exec("SELECT COUNT(*) AS n FROM product_history WHERE product_id LIKE 'bulk-2-%'")
          .one().n as number,
      };
    });
    expect(rows.affinities).toBe(CAPS.affinities);
    expect(rows.products).toBe(CAPS.products);
    expect(rows.events).toBe(CAPS.recentEvents);
    // The dedup window remembers every id of the last 48 hours (bounded by count, far above 600).
    expect(rows.seen).toBe(600);
    // The most recent product history is the part kept.
    expect(rows.newestBatchKept).toBe(200);
  });
});
