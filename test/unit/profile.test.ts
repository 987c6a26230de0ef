import { describe, expect, it } from "vitest";
import { addContribution, type DecayingScore, decayedScore } from "../../src/model/affinity";
import type { ProfileEvent } from "../../src/model/messages";
import { applyEvents, CAPS, commitToMemory, type ProfileMemory } from "../../src/model/profile";
import type { ProductHistory } from "../../src/model/ranking";
import type { Session } from "../../src/model/sessions";
import { readSettings } from "../../src/model/settings";
import { ACTOR_KEY, DAY, defined, emptyMemory, HOUR, MINUTE, profileEvent, storedProfile, T0 } from "./fixtures";

const SETTINGS = readSettings({}, () => {});
const KEY = ACTOR_KEY;

const viewed = (productId: string, at: number, extra: Record<string, unknown> = {}) =>
  profileEvent({ name: "Product Viewed", timestamp: at, properties: { product_id: productId, ...extra } });

const identify = (traits: Record<string, unknown>, at: number) =>
  profileEvent({ type: "identify", timestamp: at, traits });

function apply(memory: ProfileMemory, events: ProfileEvent[], now = T0 + DAY) {
  return applyEvents(memory, KEY, events, SETTINGS, now);
}

describe("a new profile", () => {
  it("starts from the first event and counts everything it sees", () => {
    const events = [
      viewed("shoe-1", T0 + 2 * MINUTE),
      profileEvent({ type: "page", timestamp: T0, anonymousId: "anon-1", userId: null }),
      identify({ email: "ada@example.com" }, T0 + MINUTE),
    ];
    const c = apply(emptyMemory(), events);
    expect(c.profile).toMatchObject({
      actorKey: KEY,
      userId: "u-1",
      anonymousIds: ["anon-1"],
      traits: { email: "ada@example.com" },
      firstSeen: T0,
      lastSeen: T0 + 2 * MINUTE,
      eventCount: 3,
      sessionCount: 1,
      version: 1,
    });
  });

  it("scores a purchase at its weight on the product, its category and its brand", () => {
    const order = profileEvent({
      name: "Order Completed",
      timestamp: T0,
      properties: { products: [{ product_id: "bag-1", category: "Bags", brand: "Carry" }] },
    });
    const c = apply(emptyMemory(), [order]);
    const w = SETTINGS.weights.purchased;
    expect(c.affinities).toEqual(
      new Map([
        ["product:bag-1", { score: w, asOf: T0 }],
        ["category:bags", { score: w, asOf: T0 }],
        ["brand:carry", { score: w, asOf: T0 }],
      ]),
    );
    expect(c.products.get("bag-1")).toEqual({
      productId: "bag-1",
      lastViewedAt: null,
      lastAddedAt: null,
      lastPurchasedAt: T0,
    });
  });
});

describe("applying a batch to an existing profile", () => {
  it("bumps the version once per batch, however many events it holds", () => {
    const memory = { ...emptyMemory(), profile: storedProfile({ version: 4 }) };
    expect(apply(memory, [viewed("a", T0), viewed("b", T0 + 1), viewed("c", T0 + 2)]).profile.version).toBe(5);
  });

  it("adds to stored affinities as if every event had been seen in order", () => {
    const stored = addContribution(undefined, 1, T0 + 10 * DAY, SETTINGS.halfLifeMs);
    const memory = { ...emptyMemory(), affinities: new Map([["product:shoe-1", stored]]) };
    // A late view from before the stored score's clock, and a fresh one.
    const c = apply(memory, [viewed("shoe-1", T0 + 20 * DAY), viewed("shoe-1", T0)], T0 + 30 * DAY);
    const now = T0 + 30 * DAY;
    const expected = [T0 + 10 * DAY, T0 + 20 * DAY, T0].reduce(
      (sum, at) => sum + 2 ** (-(now - at) / SETTINGS.halfLifeMs),
      0,
    );
    expect(decayedScore(defined(c.affinities.get("product:shoe-1")), now, SETTINGS.halfLifeMs)).toBeCloseTo(
      expected,
      9,
    );
  });

  it("does not change the memory it was given", () => {
    const memory: ProfileMemory = {
      profile: storedProfile({ traits: { plan: "free" }, traitTimes: { plan: T0 }, anonymousIds: ["anon-0"] }),
      affinities: new Map([["category:bags", { score: 2, asOf: T0 }]]),
      products: new Map([
        ["bag-1", { productId: "bag-1", lastViewedAt: T0, lastAddedAt: null, lastPurchasedAt: null }],
      ]),
      sessions: [{ number: 1, startedAt: T0, endedAt: T0, events: 1, pages: 0, revenue: 0, landingPage: null }],
    };
    const before = structuredClone(memory);
    apply(memory, [
      identify({ plan: "pro" }, T0 + MINUTE),
      viewed("bag-1", T0 + 2 * MINUTE, { category: "Bags" }),
      profileEvent({ type: "page", timestamp: T0 + 3 * MINUTE, anonymousId: "anon-1" }),
      viewed("hat-1", T0 + 2 * DAY),
    ]);
    expect(memory).toEqual(before);
  });

  it("commitToMemory then makes memory match what was persisted", () => {
    const memory = emptyMemory();
    const c = apply(memory, [viewed("a", T0, { category: "Bags" })]);
    commitToMemory(memory, c);
    expect(memory.profile).toBe(c.profile);
    expect([...memory.affinities.keys()].sort()).toEqual(["category:bags", "product:a"]);
    expect([...memory.products.keys()]).toEqual(["a"]);
    expect(memory.sessions.map((s) => s.number)).toEqual([1]);
  });
});

describe("traits", () => {
  it("a newer identify overwrites a trait", () => {
    const memory = {
      ...emptyMemory(),
      profile: storedProfile({ traits: { plan: "free" }, traitTimes: { plan: T0 } }),
    };
    expect(apply(memory, [identify({ plan: "pro" }, T0 + MINUTE)]).profile.traits).toEqual({ plan: "pro" });
  });

  it("an older identify arriving late does not overwrite a newer trait, but adds new ones", () => {
    const memory = {
      ...emptyMemory(),
      profile: storedProfile({ traits: { plan: "pro" }, traitTimes: { plan: T0 } }),
    };
    const c = apply(memory, [identify({ plan: "free", city: "Leeds" }, T0 - DAY)]);
    expect(c.profile.traits).toEqual({ plan: "pro", city: "Leeds" });
    expect(c.profile.traitTimes).toEqual({ plan: T0, city: T0 - DAY });
  });

  it("within one batch the later identify wins whatever order the events came in", () => {
    const c = apply(emptyMemory(), [identify({ plan: "pro" }, T0 + MINUTE), identify({ plan: "free" }, T0)]);
    expect(c.profile.traits).toEqual({ plan: "pro" });
  });

  it("counts a trait named like an object built-in against the cap like any other", () => {
    const traits = Object.fromEntries(Array.from({ length: CAPS.traits }, (_, i) => [`t${i}`, i]));
    const traitTimes = Object.fromEntries(Object.keys(traits).map((k) => [k, T0]));
    const memory = { ...emptyMemory(), profile: storedProfile({ traits, traitTimes }) };
    const c = apply(memory, [identify({ toString: "x", valueOf: "y" }, T0 + MINUTE)]);
    expect(Object.keys(c.profile.traits)).toHaveLength(CAPS.traits);
    expect(Object.hasOwn(c.profile.traits, "toString")).toBe(false);
  });

  it(`keeps at most ${CAPS.traits} traits, still updating the ones it has`, () => {
    const traits = Object.fromEntries(Array.from({ length: CAPS.traits }, (_, i) => [`t${i}`, i]));
    const traitTimes = Object.fromEntries(Object.keys(traits).map((k) => [k, T0]));
    const memory = { ...emptyMemory(), profile: storedProfile({ traits, traitTimes }) };
    const c = apply(memory, [identify({ extra: 1, t0: "updated" }, T0 + MINUTE)]);
    expect(Object.keys(c.profile.traits)).toHaveLength(CAPS.traits);
    expect(c.profile.traits.extra).toBeUndefined();
    expect(c.profile.traits.t0).toBe("updated");
  });
});

describe("bots", () => {
  it("counts a known bot's events but lets them move no affinity or product history", () => {
    const view = (bot: boolean) =>
      profileEvent({
        name: "Product Viewed",
        properties: { product_id: "sku-1", category: "Shoes" },
        context: bot ? { bot: true } : {},
      });
    const crawled = apply(emptyMemory(), [view(true), view(true)]);
    expect(crawled.profile.eventCount).toBe(2);
    expect(crawled.affinities.size).toBe(0);
    expect(crawled.products.size).toBe(0);
    const browsed = apply(emptyMemory(), [view(false)]);
    expect(browsed.affinities.size).toBeGreaterThan(0);
  });
});

describe("bounded state", () => {
  it(`keeps at most ${CAPS.affinities} affinities, forgetting the weakest`, () => {
    // A full profile in which three dimensions are weaker than one fresh view.
    const affinities = new Map<string, DecayingScore>(
      Array.from({ length: CAPS.affinities }, (_, i) => [
        `category:old-${i}`,
        { score: i < 3 ? 0.1 * (i + 1) : 10, asOf: T0 },
      ]),
    );
    const memory = { ...emptyMemory(), affinities };
    const c = apply(memory, [viewed("shoe-1", T0, { category: "Shoes", brand: "Acme" })], T0);
    expect(c.evictedDimensions.sort()).toEqual(["category:old-0", "category:old-1", "category:old-2"]);
    expect([...c.affinities.keys()].sort()).toEqual(["brand:acme", "category:shoes", "product:shoe-1"]);
    commitToMemory(memory, c);
    expect(memory.affinities.size).toBe(CAPS.affinities);
    expect(memory.affinities.has("category:old-0")).toBe(false);
    expect(memory.affinities.has("product:shoe-1")).toBe(true);
  });

  it("forgets an old strong affinity before a fresh weaker one, judged at the batch's clock", () => {
    const now = T0 + 365 * DAY;
    const affinities = new Map<string, DecayingScore>(
      Array.from({ length: CAPS.affinities }, (_, i) => [`category:c-${i}`, { score: 2, asOf: now }]),
    );
    affinities.set("category:c-0", { score: 50, asOf: T0 }); // 50 · 2^(−365/14) ≈ 0.0000007 today
    const memory = { ...emptyMemory(), affinities };
    const c = apply(memory, [viewed("new", now)], now);
    expect(c.evictedDimensions).toEqual(["category:c-0"]);
    expect(c.affinities.has("product:new")).toBe(true);
  });

  it(`keeps at most ${CAPS.products} products, forgetting the least recently touched`, () => {
    const products = new Map<string, ProductHistory>(
      Array.from({ length: CAPS.products }, (_, i) => [
        `p${i}`,
        { productId: `p${i}`, lastViewedAt: T0 + (i === 0 ? 10 * DAY : i), lastAddedAt: null, lastPurchasedAt: null },
      ]),
    );
    const memory = { ...emptyMemory(), products };
    const c = apply(memory, [viewed("newest", T0 + 20 * DAY)]);
    // p0 was viewed recently, so p1 is the least recently touched.
    expect(c.evictedProducts).toEqual(["p1"]);
    commitToMemory(memory, c);
    expect(memory.products.size).toBe(CAPS.products);
    expect(memory.products.has("newest")).toBe(true);
    expect(memory.products.has("p0")).toBe(true);
  });

  it(`remembers at most ${CAPS.anonymousIds} anonymous ids, the most recent ones`, () => {
    const anonymousIds = Array.from({ length: CAPS.anonymousIds }, (_, i) => `anon-${i}`);
    const memory = { ...emptyMemory(), profile: storedProfile({ anonymousIds }) };
    const c = apply(memory, [profileEvent({ type: "page", anonymousId: "anon-new", timestamp: T0 + MINUTE })]);
    expect(c.profile.anonymousIds).toHaveLength(CAPS.anonymousIds);
    expect(c.profile.anonymousIds.at(-1)).toBe("anon-new");
    expect(c.profile.anonymousIds).not.toContain("anon-0");
  });

  it(`keeps the ${CAPS.memorySessions} most recent sessions in memory`, () => {
    const memory = emptyMemory();
    const visits = Array.from({ length: CAPS.memorySessions + 3 }, (_, i) =>
      viewed("a", T0 + i * 2 * SETTINGS.sessionTimeoutMs),
    );
    commitToMemory(memory, apply(memory, visits, T0 + 30 * DAY));
    expect(memory.sessions.map((s) => s.number)).toEqual(Array.from({ length: CAPS.memorySessions }, (_, i) => i + 4));
    expect(memory.profile?.sessionCount).toBe(CAPS.memorySessions + 3);
  });
});

describe("sessions and product history", () => {
  it("opens a second session after half an hour of silence", () => {
    const c = apply(emptyMemory(), [
      profileEvent({ type: "page", timestamp: T0, properties: { url: "https://shop.example/" } }),
      viewed("a", T0 + SETTINGS.sessionTimeoutMs + 1),
    ]);
    expect(c.profile.sessionCount).toBe(2);
    expect([...c.sessions.values()].map((s) => [s.number, s.events, s.landingPage])).toEqual([
      [1, 1, "https://shop.example/"],
      [2, 1, null],
    ]);
  });

  it("continues the stored current session and adds order revenue to it", () => {
    const current: Session = {
      number: 3,
      startedAt: T0,
      endedAt: T0,
      events: 1,
      pages: 1,
      revenue: 0,
      landingPage: "/",
    };
    const memory = { ...emptyMemory(), profile: storedProfile({ sessionCount: 3 }), sessions: [current] };
    const order = profileEvent({ name: "Order Completed", timestamp: T0 + MINUTE, properties: { revenue: 42.5 } });
    const c = apply(memory, [order]);
    expect(c.sessions.get(3)).toMatchObject({ events: 2, revenue: 42.5, endedAt: T0 + MINUTE });
    expect(c.profile.sessionCount).toBe(3);
  });

  it("counts a late event on the profile but on no session", () => {
    const current: Session = {
      number: 2,
      startedAt: T0,
      endedAt: T0,
      events: 1,
      pages: 0,
      revenue: 0,
      landingPage: null,
    };
    const memory = { ...emptyMemory(), profile: storedProfile({ eventCount: 5 }), sessions: [current] };
    const c = apply(memory, [viewed("a", T0 - DAY)]);
    expect(c.profile.eventCount).toBe(6);
    expect(c.profile.firstSeen).toBe(T0 - DAY);
    expect(c.sessions.size).toBe(0);
  });

  it("remembers when a product was last viewed, added and bought, never moving backwards", () => {
    const memory = {
      ...emptyMemory(),
      products: new Map([["a", { productId: "a", lastViewedAt: T0 + DAY, lastAddedAt: null, lastPurchasedAt: null }]]),
    };
    const c = apply(memory, [
      viewed("a", T0),
      profileEvent({ name: "Product Added", timestamp: T0 + MINUTE, properties: { product_id: "a" } }),
      profileEvent({ name: "Email Link Clicked", timestamp: T0 + 2 * MINUTE, properties: { product_id: "b" } }),
    ]);
    expect(c.products.get("a")).toEqual({
      productId: "a",
      lastViewedAt: T0 + DAY,
      lastAddedAt: T0 + MINUTE,
      lastPurchasedAt: null,
    });
    expect(c.products.get("b")?.lastViewedAt).toBe(T0 + 2 * MINUTE);
  });

  it("a zero-weight interaction changes no affinity", () => {
    const settings = { ...SETTINGS, weights: { ...SETTINGS.weights, viewed: 0 } };
    const c = applyEvents(emptyMemory(), KEY, [viewed("a", T0, { category: "Bags" })], settings, T0);
    expect(c.affinities.size).toBe(0);
    expect(c.products.has("a")).toBe(true);
  });
});

describe("what a person adds to popularity", () => {
  it("is one view of a product however many times they view it within the window", () => {
    const c = apply(
      emptyMemory(),
      Array.from({ length: 100 }, (_, i) => viewed("shoe-1", T0 + i * MINUTE)),
    );
    expect(c.popular).toEqual([{ productId: "shoe-1", kind: "viewed", at: T0 }]);
  });

  it("counts again once the window has passed since their last view", () => {
    const first = apply(emptyMemory(), [viewed("shoe-1", T0)]);
    const memory = emptyMemory();
    commitToMemory(memory, first);
    expect(apply(memory, [viewed("shoe-1", T0 + 23 * HOUR)]).popular).toEqual([]);
    expect(apply(memory, [viewed("shoe-1", T0 + 24 * HOUR)]).popular).toEqual([
      { productId: "shoe-1", kind: "viewed", at: T0 + 24 * HOUR },
    ]);
  });

  it("counts each kind of interaction once: a view, an add and a purchase of one product", () => {
    const added = profileEvent({ name: "Product Added", timestamp: T0 + 1, properties: { product_id: "shoe-1" } });
    const bought = profileEvent({
      name: "Order Completed",
      timestamp: T0 + 2,
      properties: { products: [{ product_id: "shoe-1" }, { product_id: "shoe-1" }] },
    });
    const c = apply(emptyMemory(), [viewed("shoe-1", T0), added, added, bought]);
    expect(c.popular.map((p) => p.kind)).toEqual(["viewed", "added", "purchased"]);
  });

  it("is nothing for a bot's events or someone who refused personalization", () => {
    const bot = viewed("shoe-1", T0, {});
    bot.context = { bot: true, botReason: "too_fast" };
    const refused = viewed("shoe-2", T0);
    refused.context = { consent: { categoryPreferences: { personalization: false } } };
    expect(apply(emptyMemory(), [bot, refused]).popular).toEqual([]);
  });

  it("leaves out list views and checkouts, which a page can send for every product it lists", () => {
    const listed = profileEvent({
      name: "Product List Viewed",
      timestamp: T0,
      properties: { products: [{ product_id: "shoe-1" }, { product_id: "shoe-2" }] },
    });
    expect(apply(emptyMemory(), [listed]).popular).toEqual([]);
  });
});
