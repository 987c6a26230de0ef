/**
 * Computed traits (DESIGN §8) with an injected clock: every aggregation over
 * a lifetime and over rolling windows; window edges as the module promises
 * them (an event counts for its whole bucket of W / 60, so it never leaves a
 * window early and leaves at most W / 60 late); which events count; merges
 * that answer as if one person had sent both streams; and state that stays
 * bounded however much a person sends.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  AGGREGATIONS,
  type Aggregation,
  addToTrait,
  BUCKET_VALUES,
  BUCKETS,
  type CompiledTrait,
  compileTrait,
  computedTraitDefinition,
  eventMatches,
  LIFETIME_VALUES,
  MAX_BUCKETS,
  MAX_VALUE_CHARS,
  mergeTraitStates,
  prunedTrait,
  type TraitState,
  traitChangesAt,
  traitValue,
} from "../../src/model/computed-traits";
import type { ProfileEvent } from "../../src/model/messages";
import { windowMs } from "../../src/model/time-windows";
import { uniforms } from "../seeded-random";
import { DAY, HOUR, MINUTE, profileEvent, T0 } from "./fixtures";

/** Runs each property the same way on every machine. */
const PROPERTY_RUNS = { seed: 20_260_301, numRuns: 200 };

function define(fields: Record<string, unknown>, key = "trait"): CompiledTrait {
  return compileTrait(key, computedTraitDefinition.parse({ event: "Product Added", window: "lifetime", ...fields }));
}

function added(at: number, properties: Record<string, unknown> = {}, fields: Partial<ProfileEvent> = {}): ProfileEvent {
  return profileEvent({ name: "Product Added", timestamp: at, receivedAt: at, properties, ...fields });
}

/** Feeds events as the actor does: the ones the trait counts, one by one, each as of `now` (by default the moment it happened). */
function feed(t: CompiledTrait, events: readonly ProfileEvent[], now?: number, state: TraitState = []): TraitState {
  let s = state;
  for (const e of events) {
    if (eventMatches(e, t.definition.event, t.definition.where)) s = addToTrait(t, s, e, now ?? e.timestamp);
  }
  return s;
}

/** A time `offset` into a bucket of `bucketMs`, near T0. */
function inBucket(bucketMs: number, offset: number): number {
  return Math.ceil(T0 / bucketMs) * bucketMs + offset;
}

describe("time windows", () => {
  it.each([
    ["1h", HOUR],
    ["24h", DAY],
    ["7d", 7 * DAY],
    ["2160h", 90 * DAY],
    ["90d", 90 * DAY],
  ])("%s is a window", (text, ms) => {
    expect(windowMs(text)).toBe(ms);
  });

  it.each(["0h", "0d", "91d", "2161h", "1w", "24", "h", "01h", "24H", " 24h", "1.5d", "-1d", "lifetime"])(
    "%s is not a window",
    (text) => {
      expect(windowMs(text)).toBeNull();
    },
  );

  it('a definition says what a window looks like, and that "lifetime" is one for traits', () => {
    const parsed = computedTraitDefinition.safeParse({ aggregation: "count", event: "Product Added", window: "1w" });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(["window"]);
    expect(parsed.error?.issues[0]?.message).toContain('"lifetime"');
    expect(parsed.error?.issues[0]?.message).toContain('"24h"');
  });

  it("every aggregation but count asks for the property it aggregates", () => {
    expect(computedTraitDefinition.safeParse({ aggregation: "count", event: "x", window: "7d" }).success).toBe(true);
    const parsed = computedTraitDefinition.safeParse({ aggregation: "sum", event: "x", window: "7d" });
    expect(parsed.error?.issues[0]?.path).toEqual(["property"]);
    expect(parsed.error?.issues[0]?.message).toMatch(/^sum needs a property/);
  });
});

describe("aggregations over a lifetime", () => {
  // Sizes as shops send them: numbers, numeric strings, labels, a boolean, and one event without the property.
  const sizes: unknown[] = [30, "10", 20, "abc", true, undefined, 20];
  const events = sizes.map((size, i) => added(T0 + i * HOUR, size === undefined ? {} : { size }));

  it.each<[Aggregation, unknown]>([
    ["count", 7],
    ["sum", 80],
    ["min", 10],
    ["max", 30],
    ["mean", 20],
    ["first", 30],
    ["last", 20],
    ["most_frequent", 20],
    ["unique_count", 5],
  ])("%s of every size ever added is %s", (aggregation, expected) => {
    const t = define({ aggregation, property: aggregation === "count" ? undefined : "size" });
    expect(traitValue(t, feed(t, events), T0 + DAY)).toEqual(expected);
  });

  it("a lifetime trait never changes by time alone", () => {
    const t = define({ aggregation: "count" });
    const state = feed(t, events);
    expect(traitChangesAt(t, state, T0 + DAY)).toBeNull();
    expect(traitValue(t, state, T0 + 10 * 365 * DAY)).toBe(7);
    expect(prunedTrait(t, state, T0 + 10 * 365 * DAY)).toBe(state);
  });

  it("first and last follow the events' own times, not the order they arrived in", () => {
    const shuffled = [added(T0 + 2 * HOUR, { sku: "b" }), added(T0, { sku: "a" }), added(T0 + HOUR, { sku: "c" })];
    for (const window of ["lifetime", "24h"]) {
      const first = define({ aggregation: "first", property: "sku", window });
      const last = define({ aggregation: "last", property: "sku", window });
      expect(traitValue(first, feed(first, shuffled, T0 + 3 * HOUR), T0 + 3 * HOUR)).toBe("a");
      expect(traitValue(last, feed(last, shuffled, T0 + 3 * HOUR), T0 + 3 * HOUR)).toBe("b");
    }
  });

  it("most_frequent breaks a tie by the smaller value as text, whatever the order, so it never flickers", () => {
    const t = define({ aggregation: "most_frequent", property: "colour" });
    const colours = ["blue", "amber", "blue", "amber"].map((colour, i) => added(T0 + i, { colour }));
    expect(traitValue(t, feed(t, colours), T0 + DAY)).toBe("amber");
    expect(traitValue(t, feed(t, [...colours].reverse()), T0 + DAY)).toBe("amber");
  });

  it("most_frequent answers a number sent as a number as a number", () => {
    const t = define({ aggregation: "most_frequent", property: "size" });
    expect(
      traitValue(
        t,
        feed(
          t,
          [42, 7, 42].map((size, i) => added(T0 + i, { size })),
        ),
        T0 + DAY,
      ),
    ).toBe(42);
  });

  it('keeps 42 and "42" apart, so most_frequent answers a value as it was sent', () => {
    const unique = define({ aggregation: "unique_count", property: "size" });
    const frequent = define({ aggregation: "most_frequent", property: "size" });
    const events = [added(T0, { size: "42" }), added(T0 + 1, { size: 42 }), added(T0 + 2, { size: 42 })];
    expect(traitValue(unique, feed(unique, events), T0 + DAY)).toBe(2);
    // A number stays a number (a rule's `eq 42` then matches), a boolean a boolean.
    expect(traitValue(frequent, feed(frequent, events), T0 + DAY)).toBe(42);
    const flags = [added(T0, { gift: true }), added(T0 + 1, { gift: true }), added(T0 + 2, { gift: "true" })];
    const gift = define({ aggregation: "most_frequent", property: "gift" });
    expect(traitValue(gift, feed(gift, flags), T0 + DAY)).toBe(true);
  });

  it("values named like object internals are values like any other", () => {
    const names = ["__proto__", "constructor", "toString", "hasOwnProperty", "plain"];
    for (const window of ["lifetime", "24h"]) {
      const unique = define({ aggregation: "unique_count", property: "label", window });
      const frequent = define({ aggregation: "most_frequent", property: "label", window });
      const events = [...names, "__proto__"].map((label, i) => added(T0 + i, { label }));
      expect(traitValue(unique, feed(unique, events), T0 + 10)).toBe(names.length);
      expect(traitValue(frequent, feed(frequent, events), T0 + 10)).toBe("__proto__");
      // And after a round trip through storage.
      const stored = JSON.parse(JSON.stringify(feed(unique, events))) as TraitState;
      expect(traitValue(unique, feed(unique, [added(T0 + 20, { label: "__proto__" })], T0 + 20, stored), T0 + 20)).toBe(
        names.length,
      );
    }
  });
});

describe("aggregations over a window", () => {
  const NOW = T0 + 30 * DAY;
  // A 7d trait: one event from before the window, three inside it, fed as they happened.
  const events = [
    added(NOW - 8 * DAY, { size: 100 }),
    added(NOW - 6 * DAY, { size: 5 }),
    added(NOW - 3 * DAY, { size: 7 }),
    added(NOW - HOUR, { size: 5 }),
  ];

  it.each<[Aggregation, unknown, unknown, unknown]>([
    ["count", 3, 2, 0],
    ["sum", 17, 12, 0],
    ["min", 5, 5, null],
    ["max", 7, 7, null],
    ["mean", 17 / 3, 6, null],
    ["first", 5, 7, null],
    ["last", 5, 5, null],
    ["most_frequent", 5, 5, null],
    ["unique_count", 2, 2, 0],
  ])(
    "%s over 7 days is %s now, %s two days later and %s once everything is older than the window",
    (aggregation, now, twoDaysOn, later) => {
      const t = define({ aggregation, property: aggregation === "count" ? undefined : "size", window: "7d" });
      const state = feed(t, events);
      expect(traitValue(t, state, NOW)).toEqual(now);
      expect(traitValue(t, state, NOW + 2 * DAY)).toEqual(twoDaysOn);
      expect(traitValue(t, state, NOW + 8 * DAY)).toEqual(later);
    },
  );

  it.each<[Aggregation, unknown]>([
    ["count", 0],
    ["sum", 0],
    ["min", null],
    ["max", null],
    ["mean", null],
    ["first", null],
    ["last", null],
    ["most_frequent", null],
    ["unique_count", 0],
  ])("%s of nothing seen is %s", (aggregation, expected) => {
    for (const window of ["lifetime", "24h"]) {
      const t = define({ aggregation, property: aggregation === "count" ? undefined : "size", window });
      expect(traitValue(t, [], NOW)).toEqual(expected);
      expect(traitChangesAt(t, [], NOW)).toBeNull();
    }
  });
});

describe("window edges", () => {
  const W = DAY;
  const BUCKET = W / BUCKETS;
  const count = define({ aggregation: "count", window: "24h" });

  it("a bucket of a 24h window is 24 minutes", () => {
    expect(BUCKET).toBe(24 * MINUTE);
    expect(count.bucketMs).toBe(BUCKET);
  });

  it("an event exactly at the window's start is counted, also when it arrives just then", () => {
    const e = added(T0);
    expect(traitValue(count, feed(count, [e]), T0 + W)).toBe(1);
    expect(traitValue(count, feed(count, [e], T0 + W), T0 + W)).toBe(1);
  });

  it("an event a millisecond older than a window starting on a bucket boundary is not counted, even arriving late", () => {
    const now = inBucket(BUCKET, 0) + W;
    const empty: TraitState = [];
    expect(feed(count, [added(now - W - 1)], now, empty)).toBe(empty);
    expect(feed(count, [added(now - W)], now)).toHaveLength(1);
  });

  it.each(["1h", "24h", "7d", "90d"])(
    "a %s trait never forgets an event before the window has passed, and has always forgotten it a sixtieth of a window later",
    (window) => {
      const w = windowMs(window) ?? 0;
      const bucket = w / BUCKETS;
      const t = define({ aggregation: "count", window });
      for (const offset of [0, 1, bucket / 2, bucket - 1]) {
        const at = inBucket(bucket, offset);
        const state = feed(t, [added(at)]);
        for (const now of [at, at + 1, at + w / 2, at + w - 1, at + w]) expect(traitValue(t, state, now)).toBe(1);
        expect(traitValue(t, state, at + w + w / 60)).toBe(0);
      }
    },
  );

  it("for any event time, the event counts until it is a window old and not a sixtieth of a window after", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: T0 - 365 * DAY, max: T0 + 365 * DAY }),
        fc.integer({ min: 0, max: W }),
        fc.integer({ min: W + W / 60, max: 3 * W }),
        (at, within, beyond) => {
          const state = feed(count, [added(at)]);
          expect(traitValue(count, state, at + within)).toBe(1);
          expect(traitValue(count, state, at + beyond)).toBe(0);
          // Arriving late, at any moment it still counts, it is kept.
          expect(traitValue(count, feed(count, [added(at)], at + within), at + within)).toBe(1);
        },
      ),
      PROPERTY_RUNS,
    );
  });

  it("traitChangesAt names the exact millisecond the value next changes, until nothing is left", () => {
    const times = [T0, T0 + 5 * MINUTE, T0 + 3 * HOUR, T0 + 3 * HOUR + 1, T0 + 20 * HOUR];
    let now = T0 + 20 * HOUR;
    let state = feed(
      count,
      times.map((at) => added(at)),
    );
    let value = traitValue(count, state, now);
    expect(value).toBe(5);
    const changes: number[] = [];
    for (let c = traitChangesAt(count, state, now); c !== null; c = traitChangesAt(count, state, now)) {
      expect(c).toBeGreaterThan(now);
      expect(traitValue(count, state, c - 1)).toBe(value);
      expect(traitValue(count, state, now + Math.floor((c - now) / 2))).toBe(value);
      const next = traitValue(count, state, c);
      expect(next).toBeLessThan(value as number);
      changes.push(c);
      value = next;
      now = c;
      state = prunedTrait(count, state, now);
    }
    expect(value).toBe(0);
    expect(state).toEqual([]);
    // Every event left after it was a window old, and within a bucket of that.
    const last = changes.at(-1) ?? 0;
    expect(last).toBeGreaterThan(T0 + 20 * HOUR + W);
    expect(last).toBeLessThanOrEqual(T0 + 20 * HOUR + W + BUCKET);
    expect(changes[0]).toBeGreaterThan(T0 + W);
    expect(changes[0]).toBeLessThanOrEqual(T0 + W + BUCKET);
  });

  it("prunedTrait drops what left the window and hands back the same state when nothing did", () => {
    const state = feed(count, [added(T0), added(T0 + 20 * HOUR)]);
    expect(prunedTrait(count, state, T0 + 20 * HOUR)).toBe(state);
    const pruned = prunedTrait(count, state, T0 + 36 * HOUR);
    expect(pruned).toHaveLength(1);
    expect(traitValue(count, pruned, T0 + 36 * HOUR)).toBe(1);
  });

  it("adding an event never changes the state it was given", () => {
    const t = define({ aggregation: "most_frequent", property: "sku", window: "24h" });
    const before = feed(t, [added(T0, { sku: "a" }), added(T0 + HOUR, { sku: "b" })]);
    const copy = structuredClone(before);
    const after = feed(t, [added(T0 + HOUR + 1, { sku: "b" }), added(T0 + 2 * DAY, { sku: "c" })], undefined, before);
    expect(before).toEqual(copy);
    expect(after).not.toEqual(before);
  });
});

describe("which events count", () => {
  const count = (fields: Record<string, unknown>) => define({ aggregation: "count", ...fields });
  const countOf = (t: CompiledTrait, events: readonly ProfileEvent[]) => traitValue(t, feed(t, events), T0 + DAY);

  it("a trait counts its own event; page and screen calls are Page Viewed and Screen Viewed; * is any", () => {
    const events = [
      added(T0),
      profileEvent({ name: "Order Completed", timestamp: T0 }),
      profileEvent({ type: "page", name: "Home", timestamp: T0 }),
      profileEvent({ type: "screen", name: "Cart", timestamp: T0 }),
    ];
    expect(countOf(count({ event: "Product Added" }), events)).toBe(1);
    expect(countOf(count({ event: "Page Viewed" }), events)).toBe(1);
    expect(countOf(count({ event: "Screen Viewed" }), events)).toBe(1);
    expect(countOf(count({ event: "*" }), events)).toBe(4);
  });

  it("a where filter counts only events whose properties equal every listed value", () => {
    const t = count({ where: { category: "shoes", brand: "acme" } });
    const events = [
      added(T0, { category: "shoes", brand: "acme" }),
      added(T0, { category: "shoes", brand: "other" }),
      added(T0, { category: "hats", brand: "acme" }),
      added(T0, { category: "shoes" }),
    ];
    expect(countOf(t, events)).toBe(1);
  });

  it('a number in a where filter matches numeric strings: "49.5" equals 49.5', () => {
    const t = count({ where: { price: 49.5 } });
    const prices = [49.5, "49.5", " 49.5 ", "49.50", "49.6", "forty-nine", true, null];
    expect(
      countOf(
        t,
        prices.map((price) => added(T0, { price })),
      ),
    ).toBe(4);
  });

  it("a string in a where filter matches exactly, case included", () => {
    const t = count({ where: { category: "Shoes" } });
    expect(
      countOf(
        t,
        ["Shoes", "shoes", "Shoes ", 1].map((category) => added(T0, { category })),
      ),
    ).toBe(1);
  });

  it("a boolean in a where filter matches only that boolean", () => {
    const t = count({ where: { gift: true } });
    expect(
      countOf(
        t,
        [true, "true", 1, false].map((gift) => added(T0, { gift })),
      ),
    ).toBe(1);
  });

  it("events from known bots are never counted", () => {
    const t = count({});
    expect(countOf(t, [added(T0, {}, { context: { bot: true } }), added(T0, {}, { context: { bot: false } })])).toBe(1);
  });
});

describe("values", () => {
  const messy: unknown[] = [10, "2.5", "abc", "", "  ", true, null, { amount: 3 }, [3], undefined];
  const events = messy.map((price, i) => added(T0 + i, price === undefined ? {} : { price }));

  it.each<[Aggregation, unknown]>([
    ["count", 10],
    ["sum", 12.5],
    ["min", 2.5],
    ["max", 10],
    ["mean", 6.25],
  ])("%s reads numbers and numeric strings and ignores every other value", (aggregation, expected) => {
    const t = define({ aggregation, property: aggregation === "count" ? undefined : "price", window: "24h" });
    expect(traitValue(t, feed(t, events), T0 + HOUR)).toBe(expected);
  });

  it("an event without a usable value leaves the state as it was", () => {
    const sum = define({ aggregation: "sum", property: "price", window: "24h" });
    const before = feed(sum, [added(T0, { price: 5 })]);
    for (const price of ["abc", "", true, null, { amount: 3 }, [3]]) {
      expect(addToTrait(sum, before, added(T0 + 1, { price }), T0 + 1)).toBe(before);
    }
    expect(addToTrait(sum, before, added(T0 + 1), T0 + 1)).toBe(before);
  });

  it("first, last and most_frequent keep strings, numbers and booleans, but not objects or lists", () => {
    const last = define({ aggregation: "last", property: "v" });
    for (const v of ["label", 3.5, false]) expect(traitValue(last, feed(last, [added(T0, { v })]), T0)).toBe(v);
    for (const v of [{ a: 1 }, [1], null]) expect(traitValue(last, feed(last, [added(T0, { v })]), T0)).toBeNull();
  });

  it(`strings are kept to their first ${MAX_VALUE_CHARS} characters, and count as one value when they agree that far`, () => {
    const long = "x".repeat(MAX_VALUE_CHARS);
    const last = define({ aggregation: "last", property: "note" });
    const unique = define({ aggregation: "unique_count", property: "note" });
    const events = [added(T0, { note: `${long}a` }), added(T0 + 1, { note: `${long}b` })];
    expect(traitValue(last, feed(last, events), T0 + 1)).toBe(long);
    expect(traitValue(unique, feed(unique, events), T0 + 1)).toBe(1);
  });
});

describe("events stamped in the future", () => {
  it("an event stamped a few minutes ahead counts now, and for a whole window after its own stamp", () => {
    const count = define({ aggregation: "count", window: "24h" });
    const ahead = T0 + 5 * MINUTE;
    const state = feed(count, [added(ahead)], T0);
    expect(traitValue(count, state, T0)).toBe(1);
    expect(traitValue(count, state, ahead + DAY)).toBe(1);
    expect(traitValue(count, state, ahead + DAY + DAY / 60)).toBe(0);
  });

  it("events stamped far ahead never grow the state past MAX_BUCKETS buckets", () => {
    const count = define({ aggregation: "count", window: "1h" });
    const bucket = HOUR / BUCKETS;
    let state: TraitState = [];
    for (let i = -60; i <= 300; i++) state = addToTrait(count, state, added(T0 + i * bucket), T0);
    expect(state.length).toBeLessThanOrEqual(MAX_BUCKETS);
  });

  it("an event up to five minutes ahead (the clock-skew clamp) never pushes out one still in the window", () => {
    const count = define({ aggregation: "count", window: "1h" });
    const bucket = HOUR / BUCKETS;
    let state: TraitState = [];
    // One event in every minute of the past hour, the oldest exactly at the window's start, then five ahead.
    for (let i = -60; i <= 5; i++) state = addToTrait(count, state, added(T0 + i * bucket), T0);
    expect(traitValue(count, state, T0)).toBe(66);
  });
});

describe("merging two people's states", () => {
  const NOW = T0 + 10 * DAY;
  const stream = fc.uniqueArray(
    fc.record({
      at: fc.integer({ min: NOW - 2 * DAY, max: NOW }),
      size: fc.integer({ min: 0, max: 20 }),
      b: fc.boolean(),
    }),
    { selector: (e) => e.at, maxLength: 60 },
  );
  const cases = AGGREGATIONS.flatMap((aggregation) => ["24h", "7d", "lifetime"].map((window) => [aggregation, window]));

  it.each(cases)(
    "%s over %s: the merge of two people's states is the state of one person sending both",
    (aggregation, window) => {
      const t = define({ aggregation, property: aggregation === "count" ? undefined : "size", window });
      fc.assert(
        fc.property(stream, (drawn) => {
          const events = drawn.map((e) => ({ event: added(e.at, { size: e.size }), b: e.b }));
          const a = events.filter((e) => !e.b).map((e) => e.event);
          const b = events.filter((e) => e.b).map((e) => e.event);
          const one = feed(t, [...a, ...b], NOW);
          const merged = mergeTraitStates(t, feed(t, a, NOW), feed(t, b, NOW), NOW);
          expect(merged).toEqual(one);
          expect(mergeTraitStates(t, feed(t, b, NOW), feed(t, a, NOW), NOW)).toEqual(one);
          for (const later of [NOW, NOW + 12 * HOUR, NOW + 3 * DAY]) {
            expect(traitValue(t, merged, later)).toEqual(traitValue(t, one, later));
            expect(traitChangesAt(t, merged, later)).toEqual(traitChangesAt(t, one, later));
          }
        }),
        { ...PROPERTY_RUNS, numRuns: 100 },
      );
    },
  );

  it("a merge leaves both states it was given as they were", () => {
    const t = define({ aggregation: "unique_count", property: "size", window: "24h" });
    const a = feed(t, [added(NOW - HOUR, { size: 1 })], NOW);
    const b = feed(t, [added(NOW - HOUR + 1, { size: 2 })], NOW);
    const [copyA, copyB] = [structuredClone(a), structuredClone(b)];
    expect(traitValue(t, mergeTraitStates(t, a, b, NOW), NOW)).toBe(2);
    expect([a, b]).toEqual([copyA, copyB]);
  });
});

describe("bounded state", () => {
  const EVENTS = 100_000;
  /**
   * The most JSON a bucket can take with values of at most `valueChars`
   * characters (quotes included) that need no escaping: its fixed fields
   * (k, n, sum, min, max and two timestamps: under 256 characters), its first
   * and last value, and `cap` counted values with their counts (a counted
   * value is its JSON text as a key: two escaped quotes more).
   */
  const bucketJsonBound = (valueChars: number, cap: number) => 256 + 2 * valueChars + cap * (valueChars + 14);
  const longest = MAX_VALUE_CHARS + 2;

  /** 100,000 events over 200 days, one in ten arriving up to a window late, every value a new one of the longest kept length. */
  function flood(t: CompiledTrait, check: (state: TraitState) => void, pad = "s"): TraitState {
    const random = uniforms(7);
    let state: TraitState = [];
    for (let i = 0; i < EVENTS; i++) {
      const now = T0 + Math.floor((i * 200 * DAY) / EVENTS);
      const at = random() < 0.1 ? now - Math.floor(random() * (t.windowMs ?? DAY)) : now;
      state = addToTrait(t, state, added(at, { sku: `${i}`.padStart(MAX_VALUE_CHARS, pad) }), now);
      if (i % 97 === 0) check(state);
    }
    check(state);
    return state;
  }

  it.each(["1h", "24h", "7d", "90d"])(
    "a %s most_frequent trait holds at most BUCKETS + 1 buckets of BUCKET_VALUES values after 100,000 events",
    (window) => {
      const t = define({ aggregation: "most_frequent", property: "sku", window });
      let largest = 0;
      const state = flood(t, (s) => {
        expect(s.length).toBeLessThanOrEqual(BUCKETS + 1);
        for (const b of s) expect(Object.keys(b.values ?? {}).length).toBeLessThanOrEqual(BUCKET_VALUES);
        largest = Math.max(largest, JSON.stringify(s).length);
      });
      // 61 × (256 + 204 + 16 × 116) = 141,276 characters: under 145 KB whatever arrives.
      expect(largest).toBeLessThanOrEqual((BUCKETS + 1) * bucketJsonBound(longest, BUCKET_VALUES));
      expect(largest).toBeLessThan(145_000);
      expect(traitValue(t, state, T0 + 200 * DAY)).not.toBeNull();
    },
  );

  it("a lifetime unique_count trait holds one bucket of at most LIFETIME_VALUES values after 100,000 distinct values", () => {
    const t = define({ aggregation: "unique_count", property: "sku" });
    const state = flood(t, (s) => {
      expect(s).toHaveLength(1);
      expect(Object.keys(s[0]?.values ?? {}).length).toBeLessThanOrEqual(LIFETIME_VALUES);
    });
    // Distinct values beyond the cap are not counted (documented).
    expect(traitValue(t, state, T0 + 200 * DAY)).toBe(LIFETIME_VALUES);
    // 256 + 204 + 500 × 116 = 58,460 characters: under 60 KB.
    expect(JSON.stringify(state).length).toBeLessThanOrEqual(bucketJsonBound(longest, LIFETIME_VALUES));
    expect(JSON.stringify(state).length).toBeLessThan(60_000);
  }, 60_000);

  it("values of characters JSON must escape keep a 1h trait's stored row far under SQLite's 2 MB", () => {
    const t = define({ aggregation: "unique_count", property: "sku", window: "1h" });
    let largest = 0;
    // Each \u0001 is six characters as JSON, and seven once its key is stored inside the state's JSON.
    flood(t, (s) => (largest = Math.max(largest, new TextEncoder().encode(JSON.stringify(s)).length)), "\u0001");
    expect(largest).toBeLessThan(1_000_000);
  }, 60_000);

  it("a 7d sum trait keeps no values at all, so its state stays a few kilobytes", () => {
    const t = define({ aggregation: "sum", property: "price", window: "7d" });
    let state: TraitState = [];
    for (let i = 0; i < EVENTS; i++) {
      const at = T0 + Math.floor((i * 200 * DAY) / EVENTS);
      state = addToTrait(t, state, added(at, { price: (i % 1000) + 0.99 }), at);
    }
    expect(state.length).toBeLessThanOrEqual(BUCKETS + 1);
    expect(state.every((b) => b.values === null)).toBe(true);
    expect(JSON.stringify(state).length).toBeLessThan((BUCKETS + 1) * 256);
  });
});
