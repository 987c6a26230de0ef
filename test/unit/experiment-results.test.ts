/**
 * An experiment's results from the warehouse's per-variant totals. The
 * p-values are SciPy 1.17.1's (Debian's python3-scipy), computed once on
 * 2026-12-06: `2 * norm.sf(|z|)` of the pooled two-proportion z,
 * `ttest_ind_from_stats(..., equal_var=False)` for revenue per recipient,
 * `chisquare(observed, expected)` for the sample-ratio check, `norm.ppf` and
 * `t.ppf` for the intervals, and `integrate.quad` of the Beta posteriors for
 * the probability to beat the control.
 */
import { describe, expect, it } from "vitest";
import { experimentResults, noTotals, type VariantTotals } from "../../src/model/experiment-results";
import { T0 } from "./fixtures";

const experiment = {
  id: "recs-vs-static",
  status: "running" as const,
  control: "static",
  variants: [
    { key: "static", weight: 45, strategy: "static" },
    { key: "personalized", weight: 45, strategy: "personalized" },
    { key: "holdout", weight: 10, strategy: "none" },
  ],
};

const totals = (key: string, fields: Partial<VariantTotals>): VariantTotals => ({ ...noTotals(key), ...fields });

// Static: 75 of 2,500 clicked, 60 bought for 50 each. Personalized: 150 of 2,500 clicked,
// 40 bought for 60 and 50 for 40. The holdout got 570 (its weight promised 557 of 5,570).
const warehouse = [
  totals("static", {
    recipients: 2500,
    openers: 900,
    clickers: 75,
    conversions: 60,
    revenue: 3000,
    revenueSquares: 150_000,
  }),
  totals("personalized", {
    recipients: 2500,
    openers: 950,
    clickers: 150,
    conversions: 90,
    revenue: 4400,
    revenueSquares: 40 * 60 ** 2 + 50 * 40 ** 2,
  }),
  totals("holdout", { recipients: 570, openers: 200, conversions: 12, revenue: 600, revenueSquares: 12 * 50 ** 2 }),
];

describe("experiment results", () => {
  const results = experimentResults(experiment, warehouse, T0);

  it("reports each variant's rates per recipient", () => {
    expect(results.variants.find((v) => v.key === "personalized")).toMatchObject({
      strategy: "personalized",
      recipients: 2500,
      openRate: 0.38,
      clickRate: 0.06,
      conversionRate: 0.036,
      revenuePerRecipient: 1.76,
    });
    expect(results.asOf).toBe(new Date(T0).toISOString());
  });

  it("compares every variant but the control against it, on the three metrics", () => {
    expect(results.comparisons.map((c) => `${c.variant}:${c.metric}`)).toEqual([
      "personalized:clickRate",
      "personalized:conversionRate",
      "personalized:revenuePerRecipient",
      "holdout:clickRate",
      "holdout:conversionRate",
      "holdout:revenuePerRecipient",
    ]);
  });

  it("a doubled click rate is significant, with the interval around the lift (SciPy)", () => {
    const clicks = results.comparisons.find((c) => c.variant === "personalized" && c.metric === "clickRate");
    expect(clicks?.absoluteLift).toBeCloseTo(0.03, 12);
    expect(clicks?.relativeLift).toBeCloseTo(1, 12);
    expect(clicks?.pValue).toBeCloseTo(3.1134785042364694e-7, 15);
    // Wald interval: lift ± norm.ppf(0.975) × the unpooled standard error.
    const [lo, hi] = clicks?.ci95 ?? [0, 0];
    expect(lo).toBeCloseTo(0.018537980471673453, 12);
    expect(hi).toBeCloseTo(0.041462019528326545, 12);
    // quad(beta.pdf(x, 151, 2351) × beta.cdf(x, 76, 2426), 0, 1).
    expect(clicks?.probabilityToBeatControl).toBeCloseTo(0.9999998700681009, 9);
  });

  it("revenue per recipient uses Welch's t-test (SciPy)", () => {
    const revenue = results.comparisons.find((c) => c.variant === "personalized" && c.metric === "revenuePerRecipient");
    expect(revenue).toMatchObject({ control: 1.2, absoluteLift: expect.closeTo(0.56, 12) });
    expect(revenue?.pValue).toBeCloseTo(0.020150336859638626, 8);
    // lift ± t.ppf(0.975, Welch–Satterthwaite df) × its standard error.
    expect(revenue?.ci95[0]).toBeCloseTo(0.08766352875586453, 8);
    expect(revenue?.ci95[1]).toBeCloseTo(1.0323364712441356, 8);
  });

  it("the split that matches the weights raises no sample-ratio flag (SciPy)", () => {
    expect(results.srm.pValue).toBeCloseTo(0.8448790994146345, 12);
    expect(results.srm.mismatch).toBe(false);
    expect(results.enoughData).toBe(true);
  });

  it("70/30 recipients against 50/50 weights is flagged (SciPy p = 1.13e-36)", () => {
    const halves = { ...experiment, variants: experiment.variants.slice(0, 2) };
    const skewed = experimentResults(
      halves,
      [totals("static", { recipients: 700 }), totals("personalized", { recipients: 300 })],
      T0,
    );
    expect(skewed.srm.pValue).toBeCloseTo(1.1314837902433038e-36, 45);
    expect(skewed.srm.mismatch).toBe(true);
    const fair = experimentResults(
      halves,
      [totals("static", { recipients: 520 }), totals("personalized", { recipients: 480 })],
      T0,
    );
    expect(fair.srm).toEqual({ pValue: expect.closeTo(0.20590321073206466, 12), mismatch: false });
  });

  it("a variant nobody has seen yet has null rates, no comparisons, and there is not enough data", () => {
    const early = experimentResults(experiment, warehouse.slice(0, 2), T0);
    expect(early.variants.find((v) => v.key === "holdout")).toMatchObject({
      recipients: 0,
      openRate: null,
      clickRate: null,
      conversionRate: null,
      revenuePerRecipient: null,
    });
    expect(early.comparisons.some((c) => c.variant === "holdout")).toBe(false);
    expect(early.enoughData).toBe(false);
  });

  it("says there is not enough data while any variant has fewer than 100 recipients", () => {
    const small = warehouse.map((t) => (t.key === "holdout" ? { ...t, recipients: 99 } : t));
    expect(experimentResults(experiment, small, T0).enoughData).toBe(false);
  });

  it("a control with no clicks gives an absolute lift but no relative one", () => {
    const none = warehouse.map((t) => (t.key === "static" ? { ...t, clickers: 0 } : t));
    const clicks = experimentResults(experiment, none, T0).comparisons.find(
      (c) => c.variant === "personalized" && c.metric === "clickRate",
    );
    expect(clicks).toMatchObject({ control: 0, absoluteLift: 0.06, relativeLift: null });
  });
});
