/**
 * One person's segment state as their actor keeps it: batches of events
 * change it, audiences answer from it at an injected `now`, a definition new
 * to the person is seeded from the events the actor still holds, and
 * definitions that are gone are dropped.
 */
import { describe, expect, it } from "vitest";
import type { DecayingScore } from "../../src/model/affinity";
import { type AudienceDefinition, compileDefinitions, type Definitions, parseRule } from "../../src/model/audiences";
import { computedTraitDefinition } from "../../src/model/computed-traits";
import {
  computedTraitValues,
  decodeSegmentState,
  emptySegmentState,
  encodeSegmentState,
  evaluateAudiences,
  eventIndexOf,
  type PersonFacts,
  recencyStateId,
  type SegmentEvent,
  type SegmentState,
  segmentChangesOf,
  traitStateId,
  withSegmentChanges,
} from "../../src/model/segment-state";
import { DAY, defined, HOUR, MINUTE, profileEvent, T0 } from "./fixtures";

const CART_ABANDONER = {
  all: [{ event: "Product Added", within: "24h" }, { not: { event: "Order Completed", within: "24h" } }],
};

function definitions(audiences: Record<string, unknown>, traits: Record<string, unknown> = {}): Definitions {
  return compileDefinitions(
    Object.entries(audiences).map(([key, rule]): { key: string } & AudienceDefinition => {
      const p = parseRule(rule);
      if (!p.ok) throw new Error(`${p.path}: ${p.message}`);
      return { key, name: `The ${key}`, rule: p.rule, destinations: [] };
    }),
    Object.entries(traits).map(([key, d]) => ({ key, definition: computedTraitDefinition.parse(d) })),
  );
}

const did = (
  name: string,
  at: number,
  properties: Record<string, unknown> = {},
  context: Record<string, unknown> = {},
) => profileEvent({ name, timestamp: at, receivedAt: at, properties, context });

const facts = (affinities: Record<string, DecayingScore> = {}): PersonFacts => ({
  traits: {},
  personalization: null,
  affinity: (dimension) => affinities[dimension],
  halfLifeMs: 14 * DAY,
});

/** A person's actor: it applies each batch as of `now`, keeps its recent events, and counts how often history is asked for. */
class Actor {
  state: SegmentState = emptySegmentState();
  held: SegmentEvent[] = [];
  historyCalls = 0;

  constructor(public defs: Definitions) {}

  send(events: readonly SegmentEvent[], now: number) {
    const changes = segmentChangesOf(this.defs, eventIndexOf(this.defs), this.state, events, now, () => {
      this.historyCalls += 1;
      return this.held;
    });
    this.state = withSegmentChanges(this.state, changes);
    this.held.push(...events);
    return changes;
  }

  answers(now: number, person: PersonFacts = facts()) {
    return evaluateAudiences(this.defs, this.state, person, now);
  }

  isIn(audience: string, now: number): boolean {
    return this.answers(now).answers.get(audience)?.member ?? false;
  }
}

describe("a cart abandoner", () => {
  const defs = definitions({ cart: CART_ABANDONER });

  it("adding to the cart makes someone a cart abandoner", () => {
    const actor = new Actor(defs);
    actor.send([did("Product Added", T0)], T0);
    expect(actor.answers(T0)).toEqual({
      answers: new Map([["cart", { name: "The cart", member: true }]]),
      changesAt: T0 + DAY + 1,
    });
  });

  it("completing the order takes them out", () => {
    const actor = new Actor(defs);
    actor.send([did("Product Added", T0)], T0);
    actor.send([did("Order Completed", T0 + 10 * MINUTE)], T0 + 10 * MINUTE);
    expect(actor.isIn("cart", T0 + 10 * MINUTE)).toBe(false);
  });

  it("an add and an order in one batch is no abandoned cart", () => {
    const actor = new Actor(defs);
    actor.send([did("Product Added", T0), did("Order Completed", T0 + 1)], T0 + 1);
    expect(actor.isIn("cart", T0 + 1)).toBe(false);
  });

  it("24 hours after the add they leave at the moment the evaluation named, and not a millisecond before", () => {
    const actor = new Actor(defs);
    actor.send([did("Product Added", T0)], T0);
    const due = actor.answers(T0).changesAt ?? 0;
    expect(due).toBe(T0 + DAY + 1);
    expect(actor.answers(due - 1)).toMatchObject({ changesAt: due });
    expect(actor.isIn("cart", due - 1)).toBe(true);
    expect(actor.answers(due)).toEqual({
      answers: new Map([["cart", { name: "The cart", member: false }]]),
      changesAt: null,
    });
  });

  it("an order that is more than a day old no longer keeps a new add out", () => {
    const actor = new Actor(defs);
    actor.send([did("Order Completed", T0)], T0);
    actor.send([did("Product Added", T0 + 2 * HOUR)], T0 + 2 * HOUR);
    const e = actor.answers(T0 + 2 * HOUR);
    expect(e.answers.get("cart")?.member).toBe(false);
    // The order leaves its window first: from then on they are a cart abandoner.
    expect(e.changesAt).toBe(T0 + DAY + 1);
    expect(actor.isIn("cart", T0 + DAY + 1)).toBe(true);
  });

  it("a known bot adding to the cart is nobody's cart abandoner", () => {
    const actor = new Actor(defs);
    actor.send([did("Product Added", T0, {}, { bot: true })], T0);
    expect(actor.isIn("cart", T0)).toBe(false);
  });
});

describe("several audiences", () => {
  it("answer together, and the actor is due back at the earliest time any of them may change", () => {
    const defs = definitions({
      cart: CART_ABANDONER,
      viewer: { event: "Product Viewed", within: "7d" },
      shoe_lover: { affinity: "category:shoes", op: "gt", value: 5 },
    });
    const actor = new Actor(defs);
    actor.send([did("Product Viewed", T0), did("Product Added", T0 + HOUR)], T0 + HOUR);
    const person = facts({ "category:shoes": { score: 10, asOf: T0 } });
    const e = actor.answers(T0 + HOUR, person);
    expect(e.answers).toEqual(
      new Map([
        ["cart", { name: "The cart", member: true }],
        ["viewer", { name: "The viewer", member: true }],
        ["shoe_lover", { name: "The shoe_lover", member: true }],
      ]),
    );
    expect(e.changesAt).toBe(T0 + HOUR + DAY + 1);
    expect(actor.answers(T0 + 8 * DAY, person).changesAt).toBe(T0 + 14 * DAY);
  });
});

describe("definitions new, unchanged and gone", () => {
  it("a new audience is seeded from the events the actor still holds, so it answers for the recent past at once", () => {
    const actor = new Actor(definitions({}));
    actor.send([did("Product Added", T0)], T0);
    actor.defs = definitions({ cart: CART_ABANDONER });
    const calls = actor.historyCalls;
    const changes = actor.send([], T0 + HOUR);
    expect(actor.historyCalls).toBe(calls + 1);
    expect(changes.tracked).not.toBeNull();
    expect(actor.isIn("cart", T0 + HOUR)).toBe(true);
    expect(actor.answers(T0 + HOUR).changesAt).toBe(T0 + DAY + 1);
  });

  it("a new computed trait is seeded from history too, and counts the batch that arrives with it", () => {
    const actor = new Actor(definitions({}));
    actor.send([did("Product Added", T0), did("Product Added", T0 + MINUTE)], T0 + MINUTE);
    actor.defs = definitions({}, { adds_24h: { aggregation: "count", event: "Product Added", window: "24h" } });
    actor.send([did("Product Added", T0 + HOUR)], T0 + HOUR);
    expect(computedTraitValues(actor.defs, actor.state, T0 + HOUR)).toEqual({ adds_24h: 3 });
  });

  it("history is not asked for when every definition is already tracked", () => {
    const defs = definitions({ cart: CART_ABANDONER }, { adds: { aggregation: "count", event: "*", window: "7d" } });
    const actor = new Actor(defs);
    actor.send([did("Product Added", T0)], T0);
    const calls = actor.historyCalls;
    const changes = actor.send([did("Order Completed", T0 + 1), did("Page Viewed", T0 + 2)], T0 + 2);
    expect(actor.historyCalls).toBe(calls);
    expect(changes.tracked).toBeNull();
    expect(changes.dropped).toEqual([]);
  });

  it("a definition that is gone is listed in dropped, and its state goes with it", () => {
    const adds = { aggregation: "count", event: "Product Added", window: "7d" };
    const actor = new Actor(definitions({ cart: CART_ABANDONER }, { adds }));
    actor.send([did("Product Added", T0)], T0);
    const before = actor.defs;
    const oldIds = [...before.traits.map(traitStateId), ...before.recency.map(recencyStateId)];
    actor.defs = definitions({});
    const changes = actor.send([did("Product Added", T0 + 1)], T0 + 1);
    expect([...changes.dropped].sort()).toEqual([...oldIds].sort());
    expect(changes.tracked).toEqual(new Set());
    expect(actor.state.traits.size + actor.state.recency.size).toBe(0);
  });

  it("a changed trait definition is a new state, seeded again, and the old one is dropped", () => {
    const actor = new Actor(definitions({}, { adds: { aggregation: "count", event: "Product Added", window: "24h" } }));
    actor.send([did("Product Added", T0), did("Product Added", T0 + 2 * DAY)], T0 + 2 * DAY);
    expect(computedTraitValues(actor.defs, actor.state, T0 + 2 * DAY)).toEqual({ adds: 1 });
    const old = traitStateId(defined(actor.defs.traits[0], "the adds trait"));
    actor.defs = definitions({}, { adds: { aggregation: "count", event: "Product Added", window: "7d" } });
    const changes = actor.send([], T0 + 2 * DAY);
    expect(changes.dropped).toEqual([old]);
    expect(computedTraitValues(actor.defs, actor.state, T0 + 2 * DAY)).toEqual({ adds: 2 });
  });

  it("a batch that touches nothing tracked changes nothing", () => {
    const actor = new Actor(definitions({ cart: CART_ABANDONER }));
    actor.send([did("Product Added", T0)], T0);
    const changes = actor.send([did("Product Viewed", T0 + 1)], T0 + 1);
    expect(changes).toEqual({ traits: new Map(), recency: new Map(), dropped: [], tracked: null });
  });
});

describe("computed traits of a person", () => {
  const defs = definitions(
    { big_spender: { computed: "spent_7d", op: "gte", value: 100 } },
    {
      spent_7d: { aggregation: "sum", event: "Order Completed", property: "revenue", window: "7d" },
      orders: { aggregation: "count", event: "Order Completed", window: "lifetime" },
      favourite: { aggregation: "most_frequent", event: "Product Viewed", property: "category", window: "lifetime" },
      last_seen_page: { aggregation: "last", event: "Page Viewed", property: "path", window: "24h" },
      visits_any: { aggregation: "count", event: "*", window: "24h" },
    },
  );

  it("computedTraitValues answers every trait by key, with 0 or null for what was never seen", () => {
    const actor = new Actor(defs);
    expect(computedTraitValues(defs, actor.state, T0)).toEqual({
      spent_7d: 0,
      orders: 0,
      favourite: null,
      last_seen_page: null,
      visits_any: 0,
    });
    actor.send(
      [
        did("Order Completed", T0, { revenue: 60 }),
        did("Product Viewed", T0 + 1, { category: "shoes" }),
        did("Product Viewed", T0 + 2, { category: "hats" }),
        did("Product Viewed", T0 + 3, { category: "shoes" }),
        profileEvent({ type: "page", name: "Home", timestamp: T0 + 4, properties: { path: "/" } }),
        did("Order Completed", T0 + 5, { revenue: "45.50" }),
      ],
      T0 + 5,
    );
    expect(computedTraitValues(defs, actor.state, T0 + 5)).toEqual({
      spent_7d: 105.5,
      orders: 2,
      favourite: "shoes",
      last_seen_page: "/",
      visits_any: 6,
    });
    expect(computedTraitValues(defs, actor.state, T0 + 8 * DAY)).toEqual({
      spent_7d: 0,
      orders: 2,
      favourite: "shoes",
      last_seen_page: null,
      visits_any: 0,
    });
  });

  it("an audience on a windowed computed trait leaves when the trait drops the order that put them in", () => {
    const actor = new Actor(defs);
    actor.send(
      [did("Order Completed", T0, { revenue: 60 }), did("Order Completed", T0 + DAY, { revenue: 50 })],
      T0 + DAY,
    );
    const now = T0 + DAY;
    const e = actor.answers(now);
    expect(e.answers.get("big_spender")?.member).toBe(true);
    const due = e.changesAt ?? 0;
    expect(due).toBeGreaterThan(T0 + 7 * DAY);
    expect(due).toBeLessThanOrEqual(T0 + 7 * DAY + (7 * DAY) / 60);
    expect(actor.isIn("big_spender", due - 1)).toBe(true);
    expect(actor.isIn("big_spender", due)).toBe(false);
  });

  it("an event named * is counted once by an any-event trait", () => {
    const actor = new Actor(defs);
    actor.send([did("*", T0)], T0);
    expect(computedTraitValues(defs, actor.state, T0).visits_any).toBe(1);
  });

  it("an event named * satisfies an any-event condition once, not twice", () => {
    const twice = definitions({ busy: { event: "*", within: "24h", atLeast: 2 } });
    const actor = new Actor(twice);
    actor.send([did("*", T0)], T0);
    expect(actor.isIn("busy", T0)).toBe(false);
  });
});

describe("the stored form", () => {
  it("gives back the same state, due time and answers after an eviction", () => {
    const defs = definitions(
      { abandoners: CART_ABANDONER, spenders: { computed: "spent_7d", op: "gte", value: 50 } },
      {
        spent_7d: { aggregation: "sum", event: "Order Completed", property: "revenue", window: "7d" },
        labels: { aggregation: "unique_count", event: "Product Viewed", property: "label", window: "lifetime" },
        favourite: { aggregation: "most_frequent", event: "Product Viewed", property: "label", window: "24h" },
      },
    );
    const actor = new Actor(defs);
    actor.send(
      [
        did("Product Added", T0),
        did("Order Completed", T0 - 2 * DAY, { revenue: 80 }),
        // Values named like object internals, and typed values, survive the round trip.
        did("Product Viewed", T0 + 1, { label: "__proto__" }),
        did("Product Viewed", T0 + 2, { label: 42 }),
        did("Product Viewed", T0 + 3, { label: true }),
        did("Product Viewed", T0 + 4, { label: "42" }),
      ],
      T0 + 5,
    );
    const due = actor.answers(T0 + 5).changesAt;
    const stored = decodeSegmentState(encodeSegmentState(actor.state, due));
    expect(stored.due).toBe(due);
    expect(stored.state.tracked).toEqual(actor.state.tracked);
    for (const now of [T0 + 5, T0 + DAY, T0 + 6 * DAY]) {
      expect(computedTraitValues(defs, stored.state, now)).toEqual(computedTraitValues(defs, actor.state, now));
      expect(evaluateAudiences(defs, stored.state, facts(), now)).toEqual(actor.answers(now));
    }
  });
});
