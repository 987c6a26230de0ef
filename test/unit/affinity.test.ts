import { describe, expect, it } from "vitest";
import {
  addContribution,
  type DecayingScore,
  decayedScore,
  decayFactor,
  rankedAffinities,
  weakestBeyondCap,
} from "../../src/model/affinity";
import { DEFAULT_WEIGHTS } from "../../src/model/settings";
import { DAY, defined, T0 } from "./fixtures";

const HALF_LIFE = 14 * DAY;

function fold(contributions: readonly { weight: number; at: number }[]): DecayingScore | undefined {
  let s: DecayingScore | undefined;
  for (const c of contributions) s = addContribution(s, c.weight, c.at, HALF_LIFE);
  return s;
}

/** The reference the module promises: every contribution decayed to one clock, then summed. */
function referenceSum(contributions: readonly { weight: number; at: number }[], now: number): number {
  return contributions.reduce((sum, c) => sum + c.weight * Math.exp((-(now - c.at) / HALF_LIFE) * Math.LN2), 0);
}

describe("decay", () => {
  it("a score halves with every half-life that passes", () => {
    const s: DecayingScore = { score: 8, asOf: T0 };
    expect(decayedScore(s, T0, HALF_LIFE)).toBe(8);
    expect(decayedScore(s, T0 + HALF_LIFE, HALF_LIFE)).toBeCloseTo(4, 12);
    expect(decayedScore(s, T0 + 2 * HALF_LIFE, HALF_LIFE)).toBeCloseTo(2, 12);
    expect(decayedScore(s, T0 + 3 * HALF_LIFE, HALF_LIFE)).toBeCloseTo(1, 12);
    expect(decayFactor(HALF_LIFE / 2, HALF_LIFE)).toBeCloseTo(Math.SQRT1_2, 12);
  });

  it("a purchase one half-life old outranks two fresh views but not three", () => {
    const { purchased, viewed } = DEFAULT_WEIGHTS;
    expect([purchased, viewed]).toEqual([5, 1]);
    // After one half-life the purchase is worth 5 · 2^(−1) = 2.5 views.
    const purchaseWorth = (purchased * 2 ** -1) / viewed;
    const mostViewsItBeats = Math.ceil(purchaseWorth) - 1;
    expect(mostViewsItBeats).toBe(2);

    const now = T0 + HALF_LIFE;
    const rankWith = (views: number) => {
      const scores = new Map<string, DecayingScore>();
      scores.set("product:bought", addContribution(undefined, purchased, T0, HALF_LIFE));
      let viewedScore: DecayingScore | undefined;
      for (let i = 0; i < views; i++) viewedScore = addContribution(viewedScore, viewed, now, HALF_LIFE);
      if (viewedScore) scores.set("product:viewed", viewedScore);
      return rankedAffinities(scores, now, HALF_LIFE).map((a) => a.dimension);
    };
    expect(rankWith(mostViewsItBeats)).toEqual(["product:bought", "product:viewed"]);
    expect(rankWith(mostViewsItBeats + 1)).toEqual(["product:viewed", "product:bought"]);
  });

  it("a purchase outranks four views made at the same moment however much time passes", () => {
    const purchase = addContribution(undefined, DEFAULT_WEIGHTS.purchased, T0, HALF_LIFE);
    const views = defined(fold(Array.from({ length: 4 }, () => ({ weight: DEFAULT_WEIGHTS.viewed, at: T0 }))));
    for (const later of [0, HALF_LIFE, 10 * HALF_LIFE]) {
      const scores = new Map([
        ["product:bought", purchase],
        ["product:viewed", views],
      ]);
      expect(rankedAffinities(scores, T0 + later, HALF_LIFE)[0]?.dimension).toBe("product:bought");
    }
  });

  it("out-of-order contributions add up to the same score as in-order ones", () => {
    const contributions = [
      { weight: 1, at: T0 },
      { weight: 5, at: T0 + 3 * DAY },
      { weight: 3, at: T0 + 20 * DAY },
      { weight: 1, at: T0 + 21 * DAY },
      { weight: 2, at: T0 + 40 * DAY },
    ] as const;
    const now = T0 + 60 * DAY;
    const expected = referenceSum(contributions, now);
    const orders = [
      contributions,
      [...contributions].reverse(),
      [contributions[2], contributions[0], contributions[4], contributions[1], contributions[3]],
    ];
    for (const order of orders) {
      expect(decayedScore(defined(fold(order)), now, HALF_LIFE)).toBeCloseTo(expected, 9);
    }
  });

  it("a late contribution leaves the score's clock where it was; a newer one moves it forward", () => {
    const s = addContribution(undefined, 2, T0 + DAY, HALF_LIFE);
    const late = addContribution(s, 4, T0 + DAY - HALF_LIFE, HALF_LIFE);
    expect(late).toEqual({ score: 2 + 4 / 2, asOf: T0 + DAY });
    const newer = addContribution(s, 1, T0 + DAY + HALF_LIFE, HALF_LIFE);
    expect(newer.asOf).toBe(T0 + DAY + HALF_LIFE);
    expect(newer.score).toBeCloseTo(2 / 2 + 1, 12);
  });
});

describe("bounded affinities", () => {
  it("forgets the dimensions whose decayed score is weakest, not the ones stored smallest", () => {
    const now = T0 + 100 * DAY;
    const scores = new Map<string, DecayingScore>([
      // Was strong, but five half-lives ago: 10 / 32 ≈ 0.31 today.
      ["category:old-love", { score: 10, asOf: now - 5 * HALF_LIFE }],
      ["category:fresh", { score: 1, asOf: now }],
      ["brand:steady", { score: 3, asOf: now - HALF_LIFE }],
      ["product:faded", { score: 2, asOf: now - 2 * HALF_LIFE }],
    ]);
    expect(weakestBeyondCap(scores, 2, now, HALF_LIFE).sort()).toEqual(["category:old-love", "product:faded"]);
    expect(weakestBeyondCap(scores, 3, now, HALF_LIFE)).toEqual(["category:old-love"]);
  });

  it("forgets nothing while a profile is within the cap", () => {
    const scores = new Map<string, DecayingScore>([
      ["category:a", { score: 1, asOf: T0 }],
      ["category:b", { score: 2, asOf: T0 }],
    ]);
    expect(weakestBeyondCap(scores, 2, T0, HALF_LIFE)).toEqual([]);
    expect(weakestBeyondCap(scores, 5, T0, HALF_LIFE)).toEqual([]);
  });
});

describe("reading affinities", () => {
  it("lists decayed scores strongest first, breaking ties by name, up to the limit", () => {
    const now = T0 + HALF_LIFE;
    const scores = new Map<string, DecayingScore>([
      ["category:hats", { score: 2, asOf: T0 }],
      ["brand:acme", { score: 4, asOf: T0 }],
      ["category:bags", { score: 1, asOf: now }],
      ["category:zips", { score: 3, asOf: now }],
    ]);
    expect(rankedAffinities(scores, now, HALF_LIFE)).toEqual([
      { dimension: "category:zips", score: 3 },
      { dimension: "brand:acme", score: 2 },
      { dimension: "category:bags", score: 1 },
      { dimension: "category:hats", score: 1 },
    ]);
    expect(rankedAffinities(scores, now, HALF_LIFE, 2).map((a) => a.dimension)).toEqual([
      "category:zips",
      "brand:acme",
    ]);
  });

  it("drops scores that have decayed to nothing", () => {
    const scores = new Map<string, DecayingScore>([
      ["category:ancient", { score: 1, asOf: T0 - 100 * HALF_LIFE }],
      ["category:recent", { score: 1, asOf: T0 }],
    ]);
    expect(rankedAffinities(scores, T0, HALF_LIFE).map((a) => a.dimension)).toEqual(["category:recent"]);
  });
});
