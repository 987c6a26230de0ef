import { describe, expect, it } from "vitest";
import type { Interaction } from "../../src/model/commerce";
import { POPULARITY_EPOCH, PopularityTally, popularityIncrement } from "../../src/model/popularity";
import { DEFAULT_WEIGHTS } from "../../src/model/settings";
import { DAY } from "./fixtures";

const HALF_LIFE = 14 * DAY;
const SETTINGS = { weights: DEFAULT_WEIGHTS, halfLifeMs: HALF_LIFE };

const interaction = (kind: Interaction["kind"], productId: string | null): Interaction => ({
  kind,
  productId,
  category: null,
  brand: null,
});

describe("popularity", () => {
  it("an interaction one half-life later counts twice as much", () => {
    expect(popularityIncrement(1, POPULARITY_EPOCH, HALF_LIFE)).toBe(1);
    expect(popularityIncrement(1, POPULARITY_EPOCH + HALF_LIFE, HALF_LIFE)).toBeCloseTo(2, 12);
    expect(popularityIncrement(3, POPULARITY_EPOCH - HALF_LIFE, HALF_LIFE)).toBeCloseTo(1.5, 12);
  });

  it("ordering by the plain sum orders by decayed popularity at any later moment", () => {
    const at = POPULARITY_EPOCH + 30 * DAY;
    // An old purchase (5) against two views one and two half-lives later.
    const old = popularityIncrement(5, at, HALF_LIFE);
    const recent =
      popularityIncrement(1, at + HALF_LIFE, HALF_LIFE) + popularityIncrement(1, at + 2 * HALF_LIFE, HALF_LIFE);
    for (const now of [at + 2 * HALF_LIFE, at + 50 * HALF_LIFE]) {
      const decayed = (w: number, t: number) => w * 2 ** (-(now - t) / HALF_LIFE);
      const oldDecayed = decayed(5, at);
      const recentDecayed = decayed(1, at + HALF_LIFE) + decayed(1, at + 2 * HALF_LIFE);
      expect(Math.sign(old - recent)).toBe(Math.sign(oldDecayed - recentDecayed));
    }
    // 5 > 2 + 4 is false: the two recent views win.
    expect(recent).toBeGreaterThan(old);
  });

  it("tallies weighted product interactions, skipping pages and zero weights", () => {
    const tally = new PopularityTally();
    const at = POPULARITY_EPOCH;
    tally.add(
      [
        interaction("viewed", "a"),
        interaction("purchased", "a"),
        interaction("page", null),
        interaction("added", null),
      ],
      at,
      SETTINGS,
    );
    tally.add([interaction("viewed", "b")], at, { ...SETTINGS, weights: { ...DEFAULT_WEIGHTS, viewed: 0 } });
    expect(tally.size).toBe(1);
    expect(tally.drain()).toEqual(new Map([["a", DEFAULT_WEIGHTS.viewed + DEFAULT_WEIGHTS.purchased]]));
  });

  it("draining empties the tally, and a failed flush can be restored without losing counts", () => {
    const tally = new PopularityTally();
    tally.add([interaction("viewed", "a")], POPULARITY_EPOCH, SETTINGS);
    const pending = tally.drain();
    expect(tally.size).toBe(0);
    tally.add([interaction("viewed", "a"), interaction("viewed", "b")], POPULARITY_EPOCH, SETTINGS);
    tally.restore(pending);
    expect(tally.drain()).toEqual(
      new Map([
        ["a", 2],
        ["b", 1],
      ]),
    );
  });
});
