/**
 * The quality checks' arithmetic: grading, the modified z-score (reference
 * values from SciPy 1.17.1, `0.6745 * (x - np.median(h)) /
 * scipy.stats.median_abs_deviation(h)`), the volume rule that flags a halved
 * day but not a steady week's wobble, price outliers on a log scale, the
 * WHATWG e-mail production, and the lake ↔ warehouse reconciliation.
 */
import { describe, expect, it } from "vitest";
import {
  grade,
  isValidEmail,
  median,
  modifiedZ,
  priceOutliers,
  reconcileHours,
  volumeAnomalies,
  worstOf,
} from "../../src/model/quality-checks";

const WEEK = [1000, 1010, 990, 1005, 995, 1002, 998];

describe("grading", () => {
  it("fails past the fail bound, warns past the warn bound, passes otherwise, in either direction", () => {
    const above = { warn: 0.01, fail: 0.05, direction: "above" } as const;
    expect([0, 0.01, 0.02, 0.05, 0.06].map((v) => grade(v, above))).toEqual(["pass", "pass", "warn", "warn", "fail"]);
    const below = { warn: 0.99, fail: 0.9, direction: "below" } as const;
    expect([1, 0.95, 0.8].map((v) => grade(v, below))).toEqual(["pass", "warn", "fail"]);
    expect(grade(null, above)).toBe("pass");
    expect(worstOf(["pass", "warn", "pass"])).toBe("warn");
    expect(worstOf(["warn", "fail"])).toBe("fail");
    expect(worstOf([])).toBe("pass");
  });
});

describe("the modified z-score", () => {
  it("matches SciPy's median and MAD", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(modifiedZ(500, WEEK)).toBeCloseTo(-67.45, 6);
    expect(modifiedZ(1030, WEEK)).toBeCloseTo(4.047, 6);
    expect(modifiedZ(7, [2.1, 3.3, 4.4, 2.9, 3.0, 3.1, 2.7])).toBeCloseTo(8.993333, 5);
  });

  it("falls back to the mean absolute deviation when MAD is 0, and to infinity on a constant history", () => {
    // Median 10, MAD 0; mean absolute deviation (0·5 + 10 + 20)/7 = 30/7; (40 − 10)/(1.253314 · 30/7).
    expect(modifiedZ(40, [10, 10, 10, 10, 10, 20, 30])).toBeCloseTo(30 / (1.253314 * (30 / 7)), 9);
    expect(modifiedZ(11, [10, 10, 10])).toBe(Number.POSITIVE_INFINITY);
    expect(modifiedZ(10, [10, 10, 10])).toBe(0);
    expect(modifiedZ(5, [])).toBe(0);
  });
});

describe("volume anomalies", () => {
  it("flags a day with half the volume, and a day with twice", () => {
    const found = volumeAnomalies(
      new Map([
        ["Product Viewed", { today: 500, history: WEEK }],
        ["Order Completed", { today: 200, history: [100, 98, 103, 99, 101, 100, 97] }],
      ]),
    );
    expect(found.map((f) => [f.name, Math.round(f.change * 100)])).toEqual([
      ["Order Completed", 100],
      ["Product Viewed", -50],
    ]);
  });

  it("leaves a steady week's wobble, a flat week's small rise, and thin events alone", () => {
    const found = volumeAnomalies(
      new Map([
        ["Steady", { today: 1030, history: WEEK }],
        ["Flat", { today: 105, history: [100, 100, 100, 100, 100, 100, 100] }],
        ["Thin", { today: 1, history: [6, 5, 7, 6, 5, 6, 6] }],
      ]),
    );
    expect(found).toEqual([]);
  });
});

describe("price outliers", () => {
  it("finds a missing decimal point and a negative price, not a sale or a catalog's honest spread", () => {
    const shoe = (price: number) => ({ productId: "shoe", price });
    const events = [
      shoe(79.99),
      shoe(79.99),
      shoe(59.99), // on sale
      shoe(7999), // cents sent as units
      { productId: "tv", price: 1499 },
      { productId: "tv", price: 1499 },
      { productId: "tv", price: 1299 },
      { productId: "sock", price: 4.5 },
      { productId: "sample", price: 0 },
      { productId: "sock", price: -3 },
      { productId: null, price: 12 },
    ];
    expect(priceOutliers(events)).toEqual([
      { index: 3, productId: "shoe", price: 7999, typical: 79.99 },
      { index: 9, productId: "sock", price: -3, typical: null },
    ]);
  });
});

describe("e-mail syntax (WHATWG valid e-mail address)", () => {
  it("accepts what a browser's type=email accepts and refuses the rest", () => {
    for (const ok of ["jane@example.com", "jane.doe+news@mail.example.co.uk", "a@b", " x@y.org "]) {
      expect(isValidEmail(ok), ok).toBe(true);
    }
    for (const bad of ["jane", "jane@", "@example.com", "jane doe@example.com", "jane@-example.com", "a@b..c"]) {
      expect(isValidEmail(bad), bad).toBe(false);
    }
  });
});

describe("lake ↔ warehouse reconciliation", () => {
  const k = (hour: string, id: string) => `raw/events/dt=2026-12-06/hour=${hour}/${id}.ndjson`;

  it("finds the hour whose object is gone, and passes hours that agree", () => {
    const warehouse = new Map([
      [k("09", "a"), 40],
      [k("09", "b"), 10],
      [k("10", "c"), 25],
    ]);
    const lake = new Map([
      [k("09", "a"), 40],
      [k("10", "c"), 25],
    ]);
    expect(reconcileHours(warehouse, lake)).toEqual([
      { hour: "dt=2026-12-06/hour=09", warehouse: 50, lake: 40, missingObjects: [k("09", "b")] },
    ]);
    expect(reconcileHours(lake, lake)).toEqual([]);
  });

  it("finds lines the warehouse no longer holds (an object with more lines than rows)", () => {
    expect(reconcileHours(new Map([[k("11", "d"), 3]]), new Map([[k("11", "d"), 5]]))).toEqual([
      { hour: "dt=2026-12-06/hour=11", warehouse: 3, lake: 5, missingObjects: [] },
    ]);
  });
});
