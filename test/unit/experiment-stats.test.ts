/**
 * The experiment statistics against independent reference values: SciPy
 * 1.17.1 (Debian's python3-scipy), computed once on 2026-12-06 with
 * `scipy.special` (gammaln, gammaincc, betainc), `scipy.stats` (norm, t,
 * chi2, ttest_ind with equal_var=False, chisquare) and, for the probability
 * to beat control, `scipy.integrate.quad` of Beta(variant) pdf × Beta(control)
 * cdf over [0, 1] — a numerical integral, not the closed form implemented
 * here. The z-test p-values are SciPy's `2 * norm.sf(|z|)` of the pooled z.
 *
 * Then the behaviour a marketer relies on, by simulation with a seeded
 * generator: an A/A test's fixed-horizon p-value falls below 0.05 about one
 * time in twenty; read after every 500 recipients it does so far more often,
 * and the sequential p-value stays at or under 5% however often it is read.
 */
import { describe, expect, it } from "vitest";
import {
  betaRegularized,
  chiSquareSurvival,
  compareMeans,
  compareProportions,
  logGamma,
  normalCdf,
  probabilityToBeat,
  sampleRatioMismatch,
  sequentialPValue,
  studentTwoSided,
  upperGammaRegularized,
} from "../../src/model/experiment-stats";
import { uniforms } from "../seeded-random";

const close = (actual: number | null | undefined, expected: number, digits = 10) =>
  expect(actual).toBeCloseTo(expected, digits);

describe("special functions, against SciPy", () => {
  it("log-gamma", () => {
    close(logGamma(0.5), 0.5723649429247);
    close(logGamma(1), 0);
    close(logGamma(3.7), 1.428072326665388);
    close(logGamma(10), 12.801827480081469);
    close(logGamma(123.4), 469.3360974421906, 9);
  });

  it("regularized upper incomplete gamma, on both sides of a + 1", () => {
    close(upperGammaRegularized(2.5, 1.2), 0.7914741205943246);
    close(upperGammaRegularized(0.5, 3.0), 0.014305878435429641);
    close(upperGammaRegularized(10, 25), 0.0002214766382487835, 13);
  });

  it("regularized incomplete beta, on both sides of the mean", () => {
    close(betaRegularized(0.4, 2, 3), 0.5248);
    close(betaRegularized(0.97, 50, 0.5), 0.08169933372182264);
  });

  it("normal, Student's t and χ² tails", () => {
    close(normalCdf(1.2345), 0.8914916766373298);
    close(normalCdf(-2.5), 0.006209665325776132);
    close(studentTwoSided(2.1, 7), 0.07387119621292265);
    close(studentTwoSided(1.5, 123.4), 0.13616858853866343);
    close(chiSquareSurvival(12.3, 3), 0.006423057576577938);
  });
});

describe("a rate per recipient against the control", () => {
  it("3% against 6% of 2,500 each: the z-test, the Wald interval and the Beta-Binomial probability", () => {
    const c = compareProportions({ n: 2500, x: 75 }, { n: 2500, x: 150 });
    close(c?.control, 0.03);
    close(c?.value, 0.06);
    close(c?.absoluteLift, 0.03);
    close(c?.relativeLift, 1);
    close(c?.pValue, 3.1134785042364694e-7, 14);
    close(c?.ci95[0], 0.018537980471673453);
    close(c?.ci95[1], 0.041462019528326545);
    close(c?.probabilityToBeatControl, 0.9999998700681009, 8);
  });

  it("a small difference on 1,000 each is not significant", () => {
    const c = compareProportions({ n: 1000, x: 50 }, { n: 1000, x: 58 });
    close(c?.pValue, 0.42867181361878826);
    close(c?.ci95[0], -0.011807857988950121);
    close(c?.ci95[1], 0.02780785798895012);
    close(c?.probabilityToBeatControl, 0.7845935230636066, 8);
  });

  it("a worse variant on few recipients", () => {
    const c = compareProportions({ n: 40, x: 3 }, { n: 37, x: 1 });
    close(c?.pValue, 0.34327048063692245);
    close(c?.ci95[0], -0.14488904057364813);
    close(c?.ci95[1], 0.04894309462770219);
    close(c?.probabilityToBeatControl, 0.20400021919009262, 8);
  });

  it("zero conversions on both sides: no difference, no relative lift, an even chance", () => {
    const c = compareProportions({ n: 100, x: 0 }, { n: 100, x: 0 });
    expect(c).toMatchObject({ control: 0, value: 0, absoluteLift: 0, relativeLift: null, ci95: [0, 0], pValue: 1 });
    close(c?.probabilityToBeatControl, 0.5);
    expect(c?.sequentialPValue).toBe(1);
  });

  it("everyone converting on both sides: no difference, yet more evidence for the larger side", () => {
    const c = compareProportions({ n: 80, x: 80 }, { n: 120, x: 120 });
    expect(c).toMatchObject({ absoluteLift: 0, relativeLift: 0, ci95: [0, 0], pValue: 1 });
    // Beta(121, 1) over Beta(81, 1): 121/202 exactly; SciPy's quad gives 0.5990099009901001.
    close(c?.probabilityToBeatControl, 0.5990099009901001, 9);
  });

  it("a variant nobody has received yet has no comparison", () => {
    expect(compareProportions({ n: 100, x: 4 }, { n: 0, x: 0 })).toBeNull();
    expect(compareProportions({ n: 0, x: 0 }, { n: 100, x: 4 })).toBeNull();
  });

  it("the probability to beat is symmetric: B over A and A over B add up to one", () => {
    const a = { n: 900, x: 31 };
    const b = { n: 870, x: 40 };
    close(probabilityToBeat(a, b) + probabilityToBeat(b, a), 1, 9);
  });
});

describe("revenue per recipient against the control", () => {
  it("Welch's t-test and interval match SciPy's ttest_ind(equal_var=False)", () => {
    // Control: 2,000 recipients, 60 bought for 50.00. Variant: 2,000, 45 bought for 40.00 and 45 for 80.00.
    const c = compareMeans(
      { n: 2000, sum: 3000, sumOfSquares: 150_000 },
      { n: 2000, sum: 5400, sumOfSquares: 360_000 },
    );
    close(c?.control, 1.5);
    close(c?.value, 2.7);
    close(c?.absoluteLift, 1.2);
    close(c?.pValue, 0.0006231585510673678, 12);
    close(c?.ci95[0], 0.5129547061912602, 8);
    close(c?.ci95[1], 1.88704529380874, 8);
    // t = 3.4245…: the normal approximation's probability that the variant's mean is the higher.
    close(c?.probabilityToBeatControl, normalCdf(3.424500848603707), 8);
  });

  it("no revenue anywhere: nothing to compare but nothing broken", () => {
    const c = compareMeans({ n: 500, sum: 0, sumOfSquares: 0 }, { n: 500, sum: 0, sumOfSquares: 0 });
    expect(c).toMatchObject({ absoluteLift: 0, relativeLift: null, pValue: 1, probabilityToBeatControl: 0.5 });
  });

  it("needs two recipients on each side for a variance", () => {
    expect(compareMeans({ n: 1, sum: 10, sumOfSquares: 100 }, { n: 50, sum: 10, sumOfSquares: 100 })).toBeNull();
  });
});

describe("sample-ratio mismatch", () => {
  it("flags a 70/30 split of a 50/50 experiment", () => {
    const srm = sampleRatioMismatch([3500, 1500], [1, 1]);
    close(srm.pValue, 5.395865611607819e-176, 185);
    expect(srm.mismatch).toBe(true);
  });

  it("leaves an ordinary imbalance alone, with any number of variants and weights", () => {
    const two = sampleRatioMismatch([2540, 2460], [50, 50]);
    close(two.pValue, 0.2578990352923363);
    expect(two.mismatch).toBe(false);
    const three = sampleRatioMismatch([1010, 2050, 1940], [1, 2, 2]);
    close(three.pValue, 0.2070075526811526);
    expect(three.mismatch).toBe(false);
  });

  it("says nothing before anyone is assigned", () => {
    expect(sampleRatioMismatch([0, 0], [1, 1])).toEqual({ pValue: 1, mismatch: false });
  });
});

describe("the sequential p-value", () => {
  it("is 1/Λ of the normal-mixture SPRT, and never above 1", () => {
    // Λ = √(V/(V+τ²)) · exp(τ²θ²/(2V(V+τ²))) with θ = 0.03, V = 4e-5, τ = 0.009.
    const v = 4e-5;
    const tau2 = 0.009 ** 2;
    const lambda = Math.sqrt(v / (v + tau2)) * Math.exp((tau2 * 0.03 ** 2) / (2 * v * (v + tau2)));
    close(sequentialPValue(0.03, v, 0.009), 1 / lambda, 14);
    expect(sequentialPValue(0, v, 0.009)).toBe(1);
  });
});

/**
 * A/A tests: two arms with the same 5% click rate, 2,000 recipients each,
 * assigned one at a time at random. Answers, for each test, whether the
 * fixed-horizon p-value at the end, the fixed-horizon p-value at any peek,
 * and the sequential p-value at any peek fell below 0.05.
 */
function aaTests(tests: number, rate: number, recipients: number, peekEvery: number) {
  let endSignificant = 0;
  let peekSignificant = 0;
  let sequentialSignificant = 0;
  for (let seed = 1; seed <= tests; seed++) {
    const random = uniforms(seed * 7919);
    const arms = [
      { n: 0, x: 0 },
      { n: 0, x: 0 },
    ];
    let peeked = false;
    let sequential = false;
    for (let i = 1; i <= recipients; i++) {
      const arm = random() < 0.5 ? arms[0] : arms[1];
      if (!arm) continue;
      arm.n += 1;
      if (random() < rate) arm.x += 1;
      if (i % peekEvery === 0) {
        const c = compareProportions(arms[0] as { n: number; x: number }, arms[1] as { n: number; x: number });
        if (c && c.pValue < 0.05) peeked = true;
        if (c && c.sequentialPValue < 0.05) sequential = true;
      }
    }
    const end = compareProportions(arms[0] as { n: number; x: number }, arms[1] as { n: number; x: number });
    if (end && end.pValue < 0.05) endSignificant += 1;
    if (peeked) peekSignificant += 1;
    if (sequential) sequentialSignificant += 1;
  }
  return {
    fixedHorizon: endSignificant / tests,
    fixedHorizonPeeking: peekSignificant / tests,
    sequentialPeeking: sequentialSignificant / tests,
  };
}

describe("A/A tests by simulation", () => {
  // 1,000 tests: the false-positive rate's standard error near 5% is about 0.7 points.
  const rates = aaTests(1_000, 0.05, 4_000, 500);

  it("the fixed-horizon p-value is below 0.05 about one time in twenty", () => {
    expect(rates.fixedHorizon).toBeGreaterThan(0.03);
    expect(rates.fixedHorizon).toBeLessThan(0.07);
  });

  // The README quotes these two rates (198 and 2 of these 1,000 tests).
  it("read after every 500 recipients, the fixed-horizon p-value misleads about one time in five", () => {
    expect(rates.fixedHorizonPeeking).toBeGreaterThan(rates.fixedHorizon * 1.5);
    expect(rates.fixedHorizonPeeking).toBeGreaterThanOrEqual(0.15);
    expect(rates.fixedHorizonPeeking).toBeLessThanOrEqual(0.25);
  });

  it("the sequential p-value, read just as often, stays at or under 5% (here under 1%)", () => {
    expect(rates.sequentialPeeking).toBeLessThanOrEqual(0.01);
  });

  it("and still finds a real doubling of the click rate", () => {
    let found = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const random = uniforms(seed * 104_729);
      const control = { n: 2500, x: 0 };
      const variant = { n: 2500, x: 0 };
      for (let i = 0; i < 2500; i++) {
        if (random() < 0.03) control.x += 1;
        if (random() < 0.06) variant.x += 1;
      }
      if ((compareProportions(control, variant)?.sequentialPValue ?? 1) < 0.05) found += 1;
    }
    expect(found / 200).toBeGreaterThan(0.9);
  });
});
