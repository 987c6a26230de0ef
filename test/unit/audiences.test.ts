/**
 * Audience rules (DESIGN §8): what `parseRule` accepts and how it says what
 * is wrong, what each operator means (missing values included), and
 * evaluation with an injected clock — event windows exact to the
 * millisecond, and `changesAt` the very moment an answer flips by time alone.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { DecayingScore } from "../../src/model/affinity";
import {
  type AudienceDefinition,
  addRecent,
  compare,
  compileDefinitions,
  compileRule,
  decaysBelowAt,
  type Evaluation,
  evaluateRule,
  mergeRecent,
  type Op,
  parseRule,
  RULE_LIMITS,
  type Rule,
  recencySpecsOf,
  transitionsOf,
} from "../../src/model/audiences";
import {
  addToTrait,
  compileTrait,
  computedTraitDefinition,
  eventMatches,
  type Scalar,
  type TraitState,
  traitChangesAt,
  traitValue,
} from "../../src/model/computed-traits";
import type { ProfileEvent } from "../../src/model/messages";
import { DAY, HOUR, MINUTE, profileEvent, T0 } from "./fixtures";

const HALF_LIFE = 14 * DAY;
const PROPERTY_RUNS = { seed: 20_260_301, numRuns: 300 };

function parsed(value: unknown): Rule {
  const p = parseRule(value);
  if (!p.ok) throw new Error(`${p.path}: ${p.message}`);
  return p.rule;
}

/** What an actor knows about one person. */
interface Person {
  events?: readonly ProfileEvent[];
  traits?: Record<string, unknown>;
  personalization?: boolean | null;
  affinities?: Record<string, DecayingScore>;
  computed?: Record<string, { value: Scalar | null; changesAt: number | null }>;
}

/** Evaluates a rule for a person at `now`, keeping recency lists from their events as the actor does. */
function evaluate(rule: unknown, person: Person, now: number): Evaluation {
  const r = parsed(rule);
  const specs = recencySpecsOf([r]);
  const lists = new Map<string, number[]>();
  for (const spec of specs.values()) {
    let list: number[] = [];
    for (const e of person.events ?? [])
      if (eventMatches(e, spec.event, spec.where)) list = addRecent(list, e.timestamp, spec.keep);
    lists.set(spec.id, list);
  }
  return evaluateRule(compileRule(r, specs), {
    now,
    traits: person.traits ?? {},
    personalization: person.personalization ?? null,
    affinity: (dimension) => person.affinities?.[dimension],
    halfLifeMs: HALF_LIFE,
    computed: (key) => person.computed?.[key],
    recent: (spec) => lists.get(spec) ?? [],
  });
}

const did = (name: string, at: number, properties: Record<string, unknown> = {}) =>
  profileEvent({ name, timestamp: at, receivedAt: at, properties });

const leaf = { event: "Product Added", within: "24h" };

describe("parsing rules", () => {
  it("accepts every shape of DESIGN §8, filling in atLeast = 1", () => {
    const rule = {
      all: [
        { event: "Product Added", within: "24h" },
        { event: "Product Viewed", within: "7d", atLeast: 3, where: { category: "shoes", price: 49.5 } },
        { not: { event: "Order Completed", within: "24h" } },
        {
          any: [
            { trait: "plan", op: "eq", value: "gold" },
            { trait: "email", op: "exists" },
            { computed: "cart_adds_7d", op: "gte", value: 2 },
            { affinity: "category:shoes", op: "gt", value: 3 },
            { affinity: "brand:acme", op: "exists" },
            { affinity: "product:sku-1", op: "lte", value: 0.5 },
          ],
        },
        { consent: "personalization" },
      ],
    };
    const p = parseRule(rule);
    expect(p.ok).toBe(true);
    if (!p.ok) return;
    const [added, viewed, notOrdered, ...rest] = rule.all;
    expect(p.rule).toEqual({
      all: [{ ...added, atLeast: 1 }, viewed, { not: { ...notOrdered?.not, atLeast: 1 } }, ...rest],
    });
  });

  it.each<[string, unknown, string, RegExp]>([
    [
      "a window that is not one",
      { all: [leaf, { event: "Order Completed", within: "1w" }] },
      "rule.all.1.within",
      /"24h" or "7d"/,
    ],
    ["a window beyond 90 days", { event: "x", within: "91d" }, "rule.within", /"90d"/],
    ["a lifetime window on an event condition", { event: "x", within: "lifetime" }, "rule.within", /"1h" to "90d"/],
    ["no window", { event: "x" }, "rule.within", /./],
    ["an empty event name", { event: " ", within: "24h" }, "rule.event", /name the event/],
    ["atLeast 0", { event: "x", within: "24h", atLeast: 0 }, "rule.atLeast", /1 to 100/],
    ["atLeast 101", { event: "x", within: "24h", atLeast: 101 }, "rule.atLeast", /1 to 100/],
    ["atLeast 1.5", { event: "x", within: "24h", atLeast: 1.5 }, "rule.atLeast", /whole number/],
    [
      "a where value that is an object",
      { event: "x", within: "24h", where: { colour: { is: "red" } } },
      "rule.where.colour",
      /a number or a boolean/,
    ],
    [
      "a where value longer than 100 characters",
      { event: "x", within: "24h", where: { note: "n".repeat(101) } },
      "rule.where.note",
      /100 characters/,
    ],
    ["an unknown operator", { trait: "plan", op: "like", value: "g" }, "rule.op", /"eq".*"contains"/],
    ["a comparison with no value", { any: [{ trait: "plan", op: "gt" }] }, "rule.any.0.value", /add "value"/],
    ["a computed trait named not by its key", { computed: "Cart Adds", op: "gt", value: 1 }, "rule.computed", /key/],
    [
      "an affinity dimension of no known kind",
      { affinity: "colour:red", op: "gt", value: 1 },
      "rule.affinity",
      /"category:<slug>"/,
    ],
    ["an affinity compared with text", { affinity: "category:shoes", op: "gt", value: "high" }, "rule.value", /number/],
    ["consent to something else", { consent: "marketing" }, "rule.consent", /"personalization"/],
    [
      "a condition of no known kind",
      { all: [{ segment: "vip" }] },
      "rule.all.0",
      /event, trait, computed, affinity or consent/,
    ],
    ["an unknown field on a condition", { event: "x", within: "24h", since: "monday" }, "rule", /since/],
    ["two conditions in one object", { event: "x", within: "24h", trait: "plan" }, "rule", /trait/],
    ["all and any side by side", { all: [leaf], any: [leaf] }, "rule", /nothing beside all/],
    ["not beside a condition", { not: leaf, event: "x" }, "rule", /nothing beside not/],
    ["an empty all", { all: [] }, "rule.all", /1 to 20 rules/],
    ["an any that is not a list", { any: leaf }, "rule.any", /list/],
    ["a not of nothing", { not: null }, "rule.not", /a rule is an object/],
    ["a list as a rule", [leaf], "rule", /a rule is an object/],
    ["a string as a rule", "vip", "rule", /a rule is an object/],
  ])("rejects %s, naming where and what to send instead", (_, rule, path, message) => {
    const p = parseRule(rule);
    expect(p.ok).toBe(false);
    if (p.ok) return;
    expect(p.path).toBe(path);
    expect(p.message).toMatch(message);
  });

  it(`nests rules at most ${RULE_LIMITS.depth} deep`, () => {
    const nested = (depth: number): unknown => (depth === 1 ? leaf : { not: nested(depth - 1) });
    expect(parseRule(nested(RULE_LIMITS.depth)).ok).toBe(true);
    expect(parseRule(nested(RULE_LIMITS.depth + 1))).toEqual({
      ok: false,
      path: `rule${".not".repeat(RULE_LIMITS.depth)}`,
      message: `rules nest at most ${RULE_LIMITS.depth} deep`,
    });
  });

  it(`takes at most ${RULE_LIMITS.leaves} conditions and ${RULE_LIMITS.children} rules in one group`, () => {
    const leaves = (n: number) => Array.from({ length: n }, (_, i) => ({ trait: `t${i}`, op: "exists" }));
    expect(parseRule({ any: [{ all: leaves(16) }, { all: leaves(16) }] }).ok).toBe(true);
    expect(parseRule({ any: [{ all: leaves(16) }, { all: leaves(17) }] })).toEqual({
      ok: false,
      path: "rule.any.1.all.16",
      message: `a rule has at most ${RULE_LIMITS.leaves} conditions`,
    });
    expect(parseRule({ all: leaves(RULE_LIMITS.children) }).ok).toBe(true);
    expect(parseRule({ all: leaves(RULE_LIMITS.children + 1) })).toMatchObject({ ok: false, path: "rule.all" });
  });
});

describe("operators", () => {
  it.each<[unknown, Op, Scalar | undefined, boolean]>([
    ["gold", "eq", "gold", true],
    ["Gold", "eq", "gold", false],
    ["42", "eq", 42, true],
    [42, "eq", 42, true],
    [true, "eq", true, true],
    ["true", "eq", true, false],
    [undefined, "eq", "gold", false],
    [["gold"], "eq", "gold", false],
    ["silver", "neq", "gold", true],
    ["gold", "neq", "gold", false],
    [undefined, "neq", "gold", true],
    [null, "neq", "gold", true],
    ["", "neq", "gold", true],
    [0, "exists", undefined, true],
    [false, "exists", undefined, true],
    ["", "exists", undefined, false],
    [null, "exists", undefined, false],
    [undefined, "exists", undefined, false],
    [5, "gt", 3, true],
    ["5", "gt", 3, true],
    [3, "gt", 3, false],
    [3, "gte", 3, true],
    [3, "lt", 3, false],
    [3, "lte", 3, true],
    [2, "lt", 3, true],
    ["abc", "gt", 3, false],
    ["abc", "lt", 3, false],
    [true, "gt", 0, false],
    [undefined, "gt", 3, false],
    [undefined, "lt", 3, false],
    [null, "lte", 3, false],
    ["b", "gt", "a", true],
    ["a", "gte", "b", false],
    [5, "gt", "a", false],
    [["vip", "beta"], "contains", "vip", true],
    [["vip", "beta"], "contains", "gold", false],
    [["42"], "contains", 42, true],
    ["Running Shoes", "contains", "shoe", true],
    ["running shoes", "contains", "SHOES", true],
    ["Running Shoes", "contains", "boots", false],
    [42, "contains", 4, false],
    [undefined, "contains", "vip", false],
    [{ vip: true }, "contains", "vip", false],
  ])("%j %s %j is %s", (held, op, value, expected) => {
    expect(compare(held, op, value)).toBe(expected);
  });

  it("a trait condition reads the profile's traits: neq on a trait never set is true", () => {
    expect(evaluate({ trait: "plan", op: "neq", value: "gold" }, {}, T0)).toEqual({ member: true, changesAt: null });
    expect(evaluate({ trait: "plan", op: "neq", value: "gold" }, { traits: { plan: "gold" } }, T0).member).toBe(false);
    expect(evaluate({ trait: "age", op: "gt", value: 30 }, { traits: { age: "unknown" } }, T0).member).toBe(false);
    expect(evaluate({ trait: "tags", op: "contains", value: "vip" }, { traits: { tags: ["vip"] } }, T0).member).toBe(
      true,
    );
  });
});

describe("event conditions", () => {
  const W = DAY;

  it("someone who did it exactly a window ago is in; a millisecond earlier, out", () => {
    expect(evaluate(leaf, { events: [did("Product Added", T0 - W)] }, T0)).toEqual({ member: true, changesAt: T0 + 1 });
    expect(evaluate(leaf, { events: [did("Product Added", T0 - W - 1)] }, T0)).toEqual({
      member: false,
      changesAt: null,
    });
  });

  it("changesAt is the millisecond the event is more than a window old: in just before, out at it", () => {
    const person = { events: [did("Product Added", T0)] };
    const now = T0 + 3 * HOUR;
    const e = evaluate(leaf, person, now);
    expect(e).toEqual({ member: true, changesAt: T0 + W + 1 });
    expect(evaluate(leaf, person, T0 + W).member).toBe(true);
    expect(evaluate(leaf, person, T0 + W + 1)).toEqual({ member: false, changesAt: null });
  });

  it("the newest event counts: doing it again keeps someone in for a window after the latest time", () => {
    const person = { events: [did("Product Added", T0), did("Product Added", T0 + 10 * HOUR)] };
    expect(evaluate(leaf, person, T0 + 11 * HOUR).changesAt).toBe(T0 + 10 * HOUR + W + 1);
  });

  it("atLeast n asks for n events in the window, and someone leaves when the n-th newest is a window old", () => {
    const rule = { event: "Product Viewed", within: "24h", atLeast: 3 };
    const views = [T0 - 30 * HOUR, T0 - 10 * HOUR, T0 - 5 * HOUR].map((at) => did("Product Viewed", at));
    expect(evaluate(rule, { events: views }, T0)).toEqual({ member: false, changesAt: null });
    const more = [...views, did("Product Viewed", T0 - HOUR)];
    expect(evaluate(rule, { events: more }, T0)).toEqual({ member: true, changesAt: T0 - 10 * HOUR + W + 1 });
    expect(evaluate(rule, { events: more }, T0 - 10 * HOUR + W).member).toBe(true);
    expect(evaluate(rule, { events: more }, T0 - 10 * HOUR + W + 1).member).toBe(false);
  });

  it("a where filter on an event condition counts only matching events", () => {
    const rule = { event: "Product Added", within: "24h", where: { category: "shoes" } };
    expect(evaluate(rule, { events: [did("Product Added", T0, { category: "hats" })] }, T0).member).toBe(false);
    expect(evaluate(rule, { events: [did("Product Added", T0, { category: "shoes" })] }, T0).member).toBe(true);
  });

  it("events from known bots never put anyone in", () => {
    const bot = profileEvent({ name: "Product Added", timestamp: T0, context: { bot: true } });
    expect(evaluate(leaf, { events: [bot] }, T0).member).toBe(false);
  });

  it("not: someone who never did it is in, and stays in with nothing to wait for", () => {
    expect(evaluate({ not: leaf }, {}, T0)).toEqual({ member: true, changesAt: null });
  });

  it("not: someone who did it is out until it is a window old, and in from then", () => {
    const person = { events: [did("Product Added", T0)] };
    const e = evaluate({ not: leaf }, person, T0 + HOUR);
    expect(e).toEqual({ member: false, changesAt: T0 + W + 1 });
    expect(evaluate({ not: leaf }, person, T0 + W).member).toBe(false);
    expect(evaluate({ not: leaf }, person, T0 + W + 1)).toEqual({ member: true, changesAt: null });
  });

  it("for any events and any moment, the answer holds until changesAt and flips at it", () => {
    const rules = [leaf, { not: leaf }, { event: "Product Added", within: "24h", atLeast: 3 }];
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -3 * DAY, max: 0 }), { maxLength: 12 }),
        fc.constantFrom(...rules),
        (offsets, rule) => {
          const person = { events: offsets.map((o) => did("Product Added", T0 + o)) };
          const e = evaluate(rule, person, T0);
          if (e.changesAt === null) {
            expect(evaluate(rule, person, T0 + 10 * DAY).member).toBe(e.member);
            return;
          }
          expect(e.changesAt).toBeGreaterThan(T0);
          expect(evaluate(rule, person, e.changesAt - 1).member).toBe(e.member);
          expect(evaluate(rule, person, e.changesAt).member).toBe(!e.member);
        },
      ),
      PROPERTY_RUNS,
    );
  });
});

describe("computed trait conditions", () => {
  const adds = compileTrait(
    "cart_adds_24h",
    computedTraitDefinition.parse({ aggregation: "count", event: "Product Added", window: "24h" }),
  );
  const personAt = (state: TraitState) => (now: number) => ({
    computed: { cart_adds_24h: { value: traitValue(adds, state, now), changesAt: traitChangesAt(adds, state, now) } },
  });

  it("a windowed computed trait says when it drops an event, and the answer flips then", () => {
    let state: TraitState = [];
    for (const at of [T0, T0 + 2 * HOUR]) state = addToTrait(adds, state, did("Product Added", at), at);
    const person = personAt(state);
    const rule = { computed: "cart_adds_24h", op: "gte", value: 2 };
    const e = evaluate(rule, person(T0 + 3 * HOUR), T0 + 3 * HOUR);
    expect(e.member).toBe(true);
    const at = e.changesAt ?? 0;
    expect(at).toBeGreaterThan(T0 + DAY);
    expect(at).toBeLessThanOrEqual(T0 + DAY + DAY / 60);
    expect(evaluate(rule, person(at - 1), at - 1).member).toBe(true);
    expect(evaluate(rule, person(at), at).member).toBe(false);
  });

  it("a computed trait that is not defined has no value: only neq is true of it", () => {
    expect(evaluate({ computed: "gone", op: "neq", value: 1 }, {}, T0)).toEqual({ member: true, changesAt: null });
    expect(evaluate({ computed: "gone", op: "lt", value: 1 }, {}, T0).member).toBe(false);
    expect(evaluate({ computed: "gone", op: "exists" }, {}, T0).member).toBe(false);
  });
});

describe("affinity conditions", () => {
  const shoes = (score: number, asOf = T0) => ({ affinities: { "category:shoes": { score, asOf } } });
  const above = (op: Op, value: number) => ({ affinity: "category:shoes", op, value });

  it("a score of 10 decays through 5 after one half-life: gt 5 holds until then", () => {
    const e = evaluate(above("gt", 5), shoes(10), T0);
    expect(e).toEqual({ member: true, changesAt: T0 + HALF_LIFE });
    expect(evaluate(above("gt", 5), shoes(10), T0 + HALF_LIFE - 1).member).toBe(true);
    expect(evaluate(above("gt", 5), shoes(10), T0 + HALF_LIFE)).toEqual({ member: false, changesAt: null });
  });

  it("gte 5 holds while the score is exactly 5, and ends the moment it is less", () => {
    const e = evaluate(above("gte", 5), shoes(10), T0);
    expect(e.member).toBe(true);
    const at = e.changesAt ?? 0;
    expect(at).toBe(T0 + HALF_LIFE + 1);
    expect(evaluate(above("gte", 5), shoes(10), at - 1)).toEqual({ member: true, changesAt: at });
    expect(evaluate(above("gte", 5), shoes(10), at)).toEqual({ member: false, changesAt: null });
  });

  it("lt and lte let someone in once the score has decayed far enough", () => {
    expect(evaluate(above("lte", 5), shoes(10), T0)).toEqual({ member: false, changesAt: T0 + HALF_LIFE });
    expect(evaluate(above("lte", 5), shoes(10), T0 + HALF_LIFE).member).toBe(true);
    expect(evaluate(above("lt", 5), shoes(10), T0)).toEqual({ member: false, changesAt: T0 + HALF_LIFE + 1 });
    expect(evaluate(above("lt", 5), shoes(10), T0 + HALF_LIFE).member).toBe(false);
    expect(evaluate(above("lt", 5), shoes(10), T0 + HALF_LIFE + 1)).toEqual({ member: true, changesAt: null });
  });

  it("a threshold above the score now is never crossed by time alone", () => {
    expect(evaluate(above("gt", 20), shoes(10), T0)).toEqual({ member: false, changesAt: null });
    expect(evaluate(above("lt", 20), shoes(10), T0)).toEqual({ member: true, changesAt: null });
  });

  it("no affinity at all is a score of 0: below any positive threshold, and not there for exists", () => {
    expect(evaluate(above("lt", 1), {}, T0)).toEqual({ member: true, changesAt: null });
    expect(evaluate(above("gt", 0), {}, T0).member).toBe(false);
    expect(evaluate({ affinity: "category:shoes", op: "exists" }, {}, T0).member).toBe(false);
    expect(evaluate({ affinity: "category:shoes", op: "exists" }, shoes(0.001), T0)).toEqual({
      member: true,
      changesAt: null,
    });
  });

  it("for any score, threshold and operator, the answer holds until changesAt and flips at it", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.01, max: 1000, noNaN: true }),
        // Any threshold, and thresholds the score reaches exactly after whole half-lives.
        fc.oneof(
          fc.double({ min: 0.01, max: 1000, noNaN: true }),
          fc.integer({ min: 1, max: 64 }),
          fc.integer({ min: 1, max: 10 }).map((halvings) => -halvings),
        ),
        fc.constantFrom<Op>("gt", "gte", "lt", "lte"),
        fc.integer({ min: 0, max: 60 * DAY }),
        (score, drawn, op, elapsed) => {
          const value = drawn < 0 ? score * 2 ** drawn : drawn;
          const person = shoes(score);
          const now = T0 + elapsed;
          const e = evaluate(above(op, value), person, now);
          if (e.changesAt === null) {
            expect(evaluate(above(op, value), person, now + 100 * HALF_LIFE).member).toBe(e.member);
            return;
          }
          expect(e.changesAt).toBeGreaterThan(now);
          expect(evaluate(above(op, value), person, e.changesAt - 1).member).toBe(e.member);
          expect(evaluate(above(op, value), person, e.changesAt).member).toBe(!e.member);
        },
      ),
      PROPERTY_RUNS,
    );
  });

  it("decaysBelowAt names no time for a score already through the threshold", () => {
    expect(decaysBelowAt({ score: 4, asOf: T0 }, 5, HALF_LIFE)).toBeNull();
    expect(decaysBelowAt({ score: 5, asOf: T0 }, 5, HALF_LIFE)).toBeNull();
    expect(decaysBelowAt({ score: 5, asOf: T0 }, 0, HALF_LIFE)).toBeNull();
    expect(decaysBelowAt({ score: 8, asOf: T0 }, 1, HALF_LIFE)).toBe(T0 + 3 * HALF_LIFE);
    expect(decaysBelowAt({ score: 8, asOf: T0 }, 1, HALF_LIFE, true)).toBe(T0 + 3 * HALF_LIFE + 1);
  });
});

describe("consent conditions", () => {
  const rule = { all: [leaf, { consent: "personalization" }] };
  const shopper = (personalization: boolean | null) => ({ personalization, events: [did("Product Added", T0)] });

  it("someone who refused personalization is never a member", () => {
    expect(evaluate(rule, shopper(false), T0).member).toBe(false);
  });

  it("someone who never said, or agreed, is a member", () => {
    expect(evaluate(rule, shopper(null), T0).member).toBe(true);
    expect(evaluate(rule, shopper(true), T0).member).toBe(true);
  });
});

describe("all, any and changesAt", () => {
  const person = {
    events: [did("Product Added", T0 - 2 * HOUR), did("Order Completed", T0 - 20 * HOUR)],
    affinities: { "category:shoes": { score: 10, asOf: T0 } },
  };
  const added = leaf;
  const ordered = { event: "Order Completed", within: "24h" };
  const likesShoes = { affinity: "category:shoes", op: "gt", value: 5 };

  it("all is in when every rule is, and may change when the first of them may", () => {
    const e = evaluate({ all: [added, ordered, likesShoes] }, person, T0);
    expect(e).toEqual({ member: true, changesAt: T0 + 4 * HOUR + 1 });
    expect(evaluate({ all: [added, ordered, likesShoes] }, person, T0 + 4 * HOUR + 1).member).toBe(false);
  });

  it("any is in when one rule is, and names the earliest change among them", () => {
    const e = evaluate({ any: [{ not: added }, ordered, likesShoes] }, person, T0);
    expect(e).toEqual({ member: true, changesAt: T0 + 4 * HOUR + 1 });
  });

  it("a cart abandoner is in after an add with no order, and out when they order", () => {
    const abandoner = { all: [added, { not: ordered }] };
    const addedOnly = { events: [did("Product Added", T0)] };
    expect(evaluate(abandoner, addedOnly, T0 + MINUTE)).toEqual({ member: true, changesAt: T0 + DAY + 1 });
    const thenOrdered = { events: [...addedOnly.events, did("Order Completed", T0 + 2 * MINUTE)] };
    expect(evaluate(abandoner, thenOrdered, T0 + 2 * MINUTE).member).toBe(false);
  });
});

describe("recency lists", () => {
  it("keep the newest timestamps, newest first, and stay the same list when an older event adds nothing", () => {
    let list: number[] = [];
    for (const at of [5, 1, 9, 3, 7]) list = addRecent(list, at, 3);
    expect(list).toEqual([9, 7, 5]);
    expect(addRecent(list, 4, 3)).toBe(list);
    expect(mergeRecent([9, 2], [8, 7, 1], 3)).toEqual([9, 8, 7]);
  });

  it("in any order, the list is the newest `keep` of all timestamps", () => {
    fc.assert(
      fc.property(fc.array(fc.integer()), fc.integer({ min: 1, max: 10 }), (times, keep) => {
        let list: number[] = [];
        for (const at of times) list = addRecent(list, at, keep);
        const newest = [...times].sort((a, b) => b - a).slice(0, keep);
        expect(list).toEqual(newest);
        const half = Math.floor(times.length / 2);
        let a: number[] = [];
        let b: number[] = [];
        for (const at of times.slice(0, half)) a = addRecent(a, at, keep);
        for (const at of times.slice(half)) b = addRecent(b, at, keep);
        expect(mergeRecent(a, b, keep)).toEqual(newest);
      }),
      PROPERTY_RUNS,
    );
  });
});

describe("transitions", () => {
  const answers = (entries: [string, boolean][]) =>
    new Map(entries.map(([audience, member]) => [audience, { name: `The ${audience}`, member }]));

  it("joining is an entry stamped now; leaving is an exit naming when the stint began", () => {
    const held = new Map([["vip", T0]]);
    const now = T0 + DAY;
    expect(
      transitionsOf(
        held,
        answers([
          ["vip", false],
          ["cart", true],
        ]),
        now,
      ),
    ).toEqual([
      { audience: "vip", name: "The vip", kind: "exited", enteredAt: T0, at: now },
      { audience: "cart", name: "The cart", kind: "entered", enteredAt: now, at: now },
    ]);
  });

  it("staying in, staying out, and audiences no longer defined are no transition", () => {
    const held = new Map([
      ["vip", T0],
      ["deleted", T0],
    ]);
    expect(
      transitionsOf(
        held,
        answers([
          ["vip", true],
          ["cart", false],
        ]),
        T0 + DAY,
      ),
    ).toEqual([]);
  });
});

describe("compiled definitions", () => {
  const audience = (key: string, rule: unknown): { key: string } & AudienceDefinition => ({
    key,
    name: key,
    rule: parsed(rule),
    destinations: [],
  });

  it("conditions on the same event and filter share one recency list, keeping what the most demanding needs", () => {
    const defs = compileDefinitions(
      [
        audience("a", { event: "Product Viewed", within: "24h", where: { category: "shoes" } }),
        audience("b", { event: "Product Viewed", within: "7d", atLeast: 5, where: { category: "shoes" } }),
        audience("c", { event: "Product Viewed", within: "7d" }),
      ],
      [],
    );
    expect(defs.recency.map((r) => [r.event, r.where, r.keep])).toEqual([
      ["Product Viewed", { category: "shoes" }, 5],
      ["Product Viewed", undefined, 1],
    ]);
  });

  it("a list that must keep more is a new list, so the actor seeds it again", () => {
    const one = compileDefinitions([audience("a", { event: "x", within: "24h", atLeast: 2 })], []);
    const two = compileDefinitions([audience("a", { event: "x", within: "24h", atLeast: 3 })], []);
    expect(one.recency[0]?.id).not.toBe(two.recency[0]?.id);
  });

  it("the fingerprint is the same for the same definitions written in another key order, and changes with them", () => {
    const trait = {
      key: "adds",
      definition: computedTraitDefinition.parse({ aggregation: "count", event: "x", window: "7d" }),
    };
    const a = compileDefinitions([audience("a", { event: "x", within: "24h", where: { p: 1, q: 2 } })], [trait]);
    const b = compileDefinitions([audience("a", { where: { q: 2, p: 1 }, within: "24h", event: "x" })], [trait]);
    const c = compileDefinitions([audience("a", { event: "x", within: "48h", where: { p: 1, q: 2 } })], [trait]);
    const d = compileDefinitions([audience("a", { event: "x", within: "24h", where: { p: 1, q: 2 } })], []);
    expect(a.fingerprint).toBe(b.fingerprint);
    expect(a.fingerprint).not.toBe(c.fingerprint);
    expect(a.fingerprint).not.toBe(d.fingerprint);
  });
});
