import { describe, expect, it } from "vitest";
import { decayedScore } from "../../src/model/affinity";
import { coalesceSessions, identityClaims, mergePeople, type PersonState } from "../../src/model/identity";
import type { ProfileEvent } from "../../src/model/messages";
import { applyEvents, commitToMemory, emptyProfile, type ProfileMemory } from "../../src/model/profile";
import type { Session } from "../../src/model/sessions";
import { readSettings } from "../../src/model/settings";
import { DAY, defined, emptyMemory, HOUR, MINUTE, profileEvent, T0 } from "./fixtures";

const SETTINGS = readSettings({}, () => {});
const USER = "user:u-1";
const VISITOR = "anon:a-1";

/** A person built the way the actor builds one: by applying events to an empty memory. */
function personFrom(key: string, events: ProfileEvent[]): PersonState & ProfileMemory {
  const memory = emptyMemory();
  const changes = applyEvents(memory, key, events, SETTINGS, T0 + DAY);
  commitToMemory(memory, changes);
  return memory;
}

const browse = (productId: string, at: number, category = "Trail Shoes") =>
  profileEvent({
    userId: null,
    anonymousId: "a-1",
    name: "Product Viewed",
    timestamp: at,
    properties: { product_id: productId, category },
  });

const session = (number: number, startedAt: number, endedAt: number, landingPage: string | null = null): Session => ({
  number,
  startedAt,
  endedAt,
  events: 2,
  pages: 1,
  revenue: 0,
  landingPage,
});

describe("identity claims", () => {
  it("link every anonymous id seen with the user, and an alias's previousId, once each", () => {
    const claims = identityClaims(
      [
        profileEvent({ type: "identify", anonymousId: "a-1", messageId: "m-identify" }),
        profileEvent({ anonymousId: "a-1" }),
        profileEvent({ type: "alias", previousId: "old-id", messageId: "m-alias" }),
        profileEvent({ anonymousId: null }),
      ],
      "u-1",
    );
    expect(claims).toEqual([
      { id: "a-1", messageId: "m-identify", via: "event" },
      { id: "old-id", messageId: "m-alias", via: "alias" },
    ]);
  });

  it("ignore an alias of the user to itself", () => {
    expect(identityClaims([profileEvent({ type: "alias", previousId: "u-1" })], "u-1")).toEqual([]);
  });
});

describe("merging a visitor into a person", () => {
  it("gives a brand-new user everything the visitor browsed, under the user's id", () => {
    const visitor = personFrom(VISITOR, [browse("shoe-1", T0), browse("shoe-2", T0 + MINUTE)]);
    const merged = mergePeople(USER, { ...emptyMemory(), sessions: [] }, visitor, SETTINGS, T0 + HOUR);
    expect(merged.profile).toMatchObject({
      actorKey: USER,
      userId: "u-1",
      anonymousIds: ["a-1"],
      eventCount: 2,
      sessionCount: 1,
      firstSeen: T0,
      lastSeen: T0 + MINUTE,
      version: 1,
    });
    expect([...merged.products.keys()].sort()).toEqual(["shoe-1", "shoe-2"]);
    expect(merged.affinities.get("category:trail-shoes")).toEqual(visitor.affinities.get("category:trail-shoes"));
  });

  it("keeps the newer value of each trait, whichever side it came from", () => {
    const visitor = personFrom(VISITOR, [
      profileEvent({
        type: "identify",
        userId: null,
        anonymousId: "a-1",
        timestamp: T0 + 2 * HOUR,
        traits: { plan: "pro", city: "Oslo" },
      }),
    ]);
    const user = personFrom(USER, [
      profileEvent({ type: "identify", timestamp: T0 + HOUR, traits: { plan: "free", name: "Ada" } }),
      profileEvent({ type: "identify", timestamp: T0 + 3 * HOUR, traits: { city: "Bergen" } }),
    ]);
    const merged = mergePeople(USER, user, visitor, SETTINGS, T0 + DAY);
    expect(merged.profile.traits).toEqual({ plan: "pro", name: "Ada", city: "Bergen" });
  });

  it("sums affinities on one decay clock: the merged score equals one person having done both", () => {
    const visitorEvents = [browse("shoe-1", T0)];
    const userEvents = [
      profileEvent({
        name: "Product Added",
        timestamp: T0 + 10 * DAY,
        properties: { product_id: "shoe-3", category: "Trail Shoes" },
      }),
    ];
    const merged = mergePeople(USER, personFrom(USER, userEvents), personFrom(VISITOR, visitorEvents), SETTINGS, T0);
    const together = personFrom(USER, [...visitorEvents, ...userEvents]);
    const at = T0 + 20 * DAY;
    const dim = "category:trail-shoes";
    expect(decayedScore(defined(merged.affinities.get(dim)), at, SETTINGS.halfLifeMs)).toBeCloseTo(
      decayedScore(defined(together.affinities.get(dim)), at, SETTINGS.halfLifeMs),
      9,
    );
  });

  it("keeps the latest view, cart and purchase time of each product", () => {
    const into: PersonState = {
      ...emptyMemory(),
      profile: emptyProfile(USER, T0),
      products: new Map([["p", { productId: "p", lastViewedAt: T0 + 5, lastAddedAt: null, lastPurchasedAt: T0 + 9 }]]),
      sessions: [],
    };
    const from: PersonState = {
      ...emptyMemory(),
      profile: emptyProfile(VISITOR, T0),
      products: new Map([["p", { productId: "p", lastViewedAt: T0 + 7, lastAddedAt: T0 + 1, lastPurchasedAt: null }]]),
      sessions: [],
    };
    expect(mergePeople(USER, into, from, SETTINGS, T0).products.get("p")).toEqual({
      productId: "p",
      lastViewedAt: T0 + 7,
      lastAddedAt: T0 + 1,
      lastPurchasedAt: T0 + 9,
    });
  });

  it("makes the anonymous pages and the sign-in that followed one visit, landing where the visitor landed", () => {
    const into: PersonState = {
      ...emptyMemory(),
      profile: { ...emptyProfile(USER, T0 + 10 * MINUTE), sessionCount: 1 },
      sessions: [session(1, T0 + 10 * MINUTE, T0 + 12 * MINUTE)],
    };
    const from: PersonState = {
      ...emptyMemory(),
      profile: { ...emptyProfile(VISITOR, T0 - DAY), sessionCount: 2 },
      sessions: [session(1, T0 - DAY, T0 - DAY + MINUTE, "/old"), session(2, T0, T0 + 5 * MINUTE, "/landing")],
    };
    const merged = mergePeople(USER, into, from, SETTINGS, T0 + HOUR);
    expect(merged.profile.sessionCount).toBe(2);
    expect(merged.sessionList).toEqual([
      { ...session(1, T0 - DAY, T0 - DAY + MINUTE, "/old") },
      { number: 2, startedAt: T0, endedAt: T0 + 12 * MINUTE, events: 4, pages: 2, revenue: 0, landingPage: "/landing" },
    ]);
  });
});

describe("coalescing sessions", () => {
  it("joins visits less than the timeout apart and counts the joins", () => {
    const { sessions, coalesced } = coalesceSessions(
      [
        session(1, T0, T0 + MINUTE),
        session(1, T0 + 20 * MINUTE, T0 + 21 * MINUTE),
        session(2, T0 + 3 * HOUR, T0 + 3 * HOUR),
      ],
      SETTINGS.sessionTimeoutMs,
    );
    expect(coalesced).toBe(1);
    expect(sessions.map((s) => [s.startedAt, s.endedAt])).toEqual([
      [T0, T0 + 21 * MINUTE],
      [T0 + 3 * HOUR, T0 + 3 * HOUR],
    ]);
  });
});
