/**
 * The statistics behind an experiment's results (DESIGN §7): each variant
 * against the control, for a rate per recipient (clicks, conversions) and
 * for revenue per recipient, and a check that the split itself worked.
 *
 * - rates: two-proportion z-test (pooled standard error under the null) for
 *   the p-value, Wald interval (unpooled) for the lift, and the Bayesian
 *   probability that the variant's rate beats the control's with uniform
 *   Beta(1, 1) priors (the closed form in Evan Miller, "Formulas for
 *   Bayesian A/B Testing", 2015);
 * - revenue per recipient: Welch's t-test and its interval (Welch 1947,
 *   Satterthwaite's degrees of freedom), and the probability to beat the
 *   control from the normal approximation of the difference;
 * - sample-ratio mismatch: Pearson's χ² of recipients against the weights;
 * - an always-valid p-value: the mixture sequential probability ratio test
 *   with a normal mixing distribution (Johari, Pekelis, Walsh, "Always
 *   Valid Inference: Continuous Monitoring of A/B Tests", Operations
 *   Research 70(3), 2022). Its p-value may be read after every recipient and
 *   acted on when it falls below α with a false-positive rate of at most α
 *   (Ville's inequality), where the fixed-horizon p-value read daily would
 *   cross 0.05 far more often than one time in twenty.
 *
 * The special functions are written here rather than taken from a library:
 * the few needed (log-gamma, the regularized incomplete gamma and beta
 * functions) are small, and the libraries that carry them (jStat and the
 * like) bring far more than a Worker needs. They are checked against SciPy
 * in the unit tests.
 */

const EPSILON = 1e-15;
const TINY = 1e-300;
const MAX_ITERATIONS = 10_000;
const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);

/** ln Γ(x) for x > 0: Stirling's series after shifting x to at least 10 with Γ(x + 1) = xΓ(x). */
export function logGamma(x: number): number {
  if (!(x > 0)) return Number.NaN;
  let shift = 0;
  let z = x;
  while (z < 10) {
    shift += Math.log(z);
    z += 1;
  }
  const z2 = z * z;
  const series = 1 / (12 * z) - 1 / (360 * z * z2) + 1 / (1260 * z * z2 * z2) - 1 / (1680 * z * z2 * z2 * z2);
  return (z - 0.5) * Math.log(z) - z + LOG_SQRT_2PI + series - shift;
}

function logBeta(a: number, b: number): number {
  return logGamma(a) + logGamma(b) - logGamma(a + b);
}

/** Q(a, x) = Γ(a, x) / Γ(a), the regularized upper incomplete gamma function. */
export function upperGammaRegularized(a: number, x: number): number {
  if (x <= 0) return 1;
  const front = Math.exp(-x + a * Math.log(x) - logGamma(a));
  if (x < a + 1) {
    // The series of P(a, x), which converges quickly below a + 1.
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < MAX_ITERATIONS; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * EPSILON) break;
    }
    return Math.max(0, 1 - sum * front);
  }
  // The continued fraction of Q(a, x), evaluated by the modified Lentz method.
  let b = x + 1 - a;
  let c = 1 / TINY;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < MAX_ITERATIONS; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < TINY) d = TINY;
    c = b + an / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const step = d * c;
    h *= step;
    if (Math.abs(step - 1) < EPSILON) break;
  }
  return Math.min(1, front * h);
}

/** The continued fraction in the incomplete beta function (modified Lentz). */
function betaFraction(x: number, a: number, b: number): number {
  const sum = a + b;
  let c = 1;
  let d = 1 - (sum * x) / (a + 1);
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m < MAX_ITERATIONS; m++) {
    const m2 = 2 * m;
    // Even step.
    let coefficient = (m * (b - m) * x) / ((a - 1 + m2) * (a + m2));
    d = 1 + coefficient * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + coefficient / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    // Odd step.
    coefficient = (-(a + m) * (sum + m) * x) / ((a + m2) * (a + 1 + m2));
    d = 1 + coefficient * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + coefficient / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const step = d * c;
    h *= step;
    if (Math.abs(step - 1) < EPSILON) break;
  }
  return h;
}

/** I_x(a, b), the regularized incomplete beta function. */
export function betaRegularized(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(a * Math.log(x) + b * Math.log(1 - x) - logBeta(a, b));
  // The fraction converges fast on the side of the mean; the other side by symmetry.
  if (x < (a + 1) / (a + b + 2)) return (front * betaFraction(x, a, b)) / a;
  return 1 - (front * betaFraction(1 - x, b, a)) / b;
}

/** Φ(z), the standard normal distribution function. */
export function normalCdf(z: number): number {
  const tail = 0.5 * upperGammaRegularized(0.5, (z * z) / 2);
  return z >= 0 ? 1 - tail : tail;
}

/** P(|Z| ≥ |z|) for a standard normal Z. */
export function normalTwoSided(z: number): number {
  return upperGammaRegularized(0.5, (z * z) / 2);
}

/** P(|T| ≥ |t|) for Student's t with `df` degrees of freedom. */
export function studentTwoSided(t: number, df: number): number {
  if (!Number.isFinite(df) || df > 1e7) return normalTwoSided(t);
  return betaRegularized(df / (df + t * t), df / 2, 0.5);
}

/** P(X ≥ x) for χ² with `df` degrees of freedom. */
export function chiSquareSurvival(x: number, df: number): number {
  return upperGammaRegularized(df / 2, x / 2);
}

const Z_975 = 1.959963984540054;

/** The t with P(|T| ≥ t) = 0.05, by bisection. */
function studentQuantile975(df: number): number {
  if (!Number.isFinite(df) || df > 1e7) return Z_975;
  let lo = 0;
  let hi = 1_000;
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (studentTwoSided(mid, df) > 0.05) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** What one comparison of a variant against the control reports (DESIGN §7). */
export interface Comparison {
  control: number;
  value: number;
  absoluteLift: number;
  /** Null when the control's value is 0: no ratio to speak of. */
  relativeLift: number | null;
  /** The 95% interval of the absolute lift. */
  ci95: [number, number];
  pValue: number;
  probabilityToBeatControl: number;
  /** Always-valid: may be read at every peek (mSPRT). */
  sequentialPValue: number;
}

export interface Proportion {
  /** Recipients. */
  n: number;
  /** Recipients who did it (clicked, converted). */
  x: number;
}

/**
 * Scale of the effects the sequential test is tuned to: the mixing
 * distribution's standard deviation as a share of the pooled value, so a
 * relative lift of about ±20% is what it detects soonest. Any value keeps the
 * test valid; it only moves where it is most powerful.
 */
const MIXING_SHARE = 0.2;

/**
 * The mSPRT's always-valid p-value after observing `estimate` of an effect
 * whose variance under the null is `variance`, with a N(0, tau²) mixture
 * over the effect: 1 / Λ, capped at 1, where
 * Λ = √(V / (V + τ²)) · exp(τ² θ̂² / (2 V (V + τ²))).
 */
export function sequentialPValue(estimate: number, variance: number, tau: number): number {
  if (!(variance > 0) || !(tau > 0)) return 1;
  const tau2 = tau * tau;
  const logLikelihoodRatio =
    0.5 * Math.log(variance / (variance + tau2)) + (tau2 * estimate * estimate) / (2 * variance * (variance + tau2));
  return Math.min(1, Math.exp(-logLikelihoodRatio));
}

/** Terms of the exact Beta sum beyond which the normal approximation of the posteriors is used. */
const EXACT_BETA_TERMS = 20_000;

/** P(p_variant > p_control) with independent Beta(1 + x, 1 + n − x) posteriors. */
export function probabilityToBeat(control: Proportion, variant: Proportion): number {
  const aC = 1 + control.x;
  const bC = 1 + control.n - control.x;
  const aV = 1 + variant.x;
  const bV = 1 + variant.n - variant.x;
  if (aV - 1 > EXACT_BETA_TERMS) {
    const mean = (a: number, b: number) => a / (a + b);
    const variance = (a: number, b: number) => (a * b) / ((a + b) ** 2 * (a + b + 1));
    return normalCdf((mean(aV, bV) - mean(aC, bC)) / Math.sqrt(variance(aV, bV) + variance(aC, bC)));
  }
  // Σ_{i=0}^{aV−1} B(aC + i, bC + bV) / ((bV + i) B(1 + i, bV) B(aC, bC)).
  const base = logBeta(aC, bC);
  let total = 0;
  for (let i = 0; i < aV; i++) {
    total += Math.exp(logBeta(aC + i, bC + bV) - Math.log(bV + i) - logBeta(1 + i, bV) - base);
  }
  return Math.min(1, Math.max(0, total));
}

/**
 * A rate per recipient of a variant against the control's: z-test with the
 * pooled standard error, Wald interval, Beta-Binomial probability to beat,
 * and the sequential p-value. Null when either side has no recipients.
 */
export function compareProportions(control: Proportion, variant: Proportion): Comparison | null {
  if (control.n === 0 || variant.n === 0) return null;
  const pC = control.x / control.n;
  const pV = variant.x / variant.n;
  const lift = pV - pC;
  const pooled = (control.x + variant.x) / (control.n + variant.n);
  const nullVariance = pooled * (1 - pooled) * (1 / control.n + 1 / variant.n);
  const pValue = nullVariance > 0 ? normalTwoSided(lift / Math.sqrt(nullVariance)) : 1;
  const se = Math.sqrt((pC * (1 - pC)) / control.n + (pV * (1 - pV)) / variant.n);
  return {
    control: pC,
    value: pV,
    absoluteLift: lift,
    relativeLift: pC > 0 ? lift / pC : null,
    ci95: [lift - Z_975 * se, lift + Z_975 * se],
    pValue,
    probabilityToBeatControl: probabilityToBeat(control, variant),
    sequentialPValue: sequentialPValue(lift, nullVariance, MIXING_SHARE * pooled),
  };
}

/** A per-recipient amount (revenue): recipients, the sum, and the sum of squares (non-converters count as 0). */
export interface Amounts {
  n: number;
  sum: number;
  sumOfSquares: number;
}

function meanAndVariance({ n, sum, sumOfSquares }: Amounts): { mean: number; variance: number } {
  const mean = sum / n;
  // Sample variance; never negative from rounding.
  const variance = n > 1 ? Math.max(0, (sumOfSquares - n * mean * mean) / (n - 1)) : 0;
  return { mean, variance };
}

/**
 * Mean per recipient of a variant against the control's: Welch's t-test and
 * interval, the probability to beat from the normal approximation, and the
 * sequential p-value. Null when either side has fewer than two recipients.
 */
export function compareMeans(control: Amounts, variant: Amounts): Comparison | null {
  if (control.n < 2 || variant.n < 2) return null;
  const c = meanAndVariance(control);
  const v = meanAndVariance(variant);
  const lift = v.mean - c.mean;
  const shareC = c.variance / control.n;
  const shareV = v.variance / variant.n;
  const variance = shareC + shareV;
  const pooledMean = (control.sum + variant.sum) / (control.n + variant.n);
  if (!(variance > 0)) {
    return {
      control: c.mean,
      value: v.mean,
      absoluteLift: lift,
      relativeLift: c.mean !== 0 ? lift / c.mean : null,
      ci95: [lift, lift],
      pValue: lift === 0 ? 1 : 0,
      probabilityToBeatControl: lift > 0 ? 1 : lift < 0 ? 0 : 0.5,
      sequentialPValue: lift === 0 ? 1 : 0,
    };
  }
  const se = Math.sqrt(variance);
  // Welch–Satterthwaite degrees of freedom.
  const df = variance ** 2 / (shareC ** 2 / (control.n - 1) + shareV ** 2 / (variant.n - 1));
  const t = lift / se;
  const half = studentQuantile975(df) * se;
  return {
    control: c.mean,
    value: v.mean,
    absoluteLift: lift,
    relativeLift: c.mean !== 0 ? lift / c.mean : null,
    ci95: [lift - half, lift + half],
    pValue: studentTwoSided(t, df),
    probabilityToBeatControl: normalCdf(t),
    sequentialPValue: sequentialPValue(lift, variance, MIXING_SHARE * Math.abs(pooledMean)),
  };
}

/** Below this p-value the split is flagged as broken (DESIGN §7). */
export const SRM_THRESHOLD = 0.001;

/** Pearson's χ² of the recipients each variant got against what its weight promised. */
export function sampleRatioMismatch(
  recipients: readonly number[],
  weights: readonly number[],
): { pValue: number; mismatch: boolean } {
  const total = recipients.reduce((a, n) => a + n, 0);
  const weightSum = weights.reduce((a, w) => a + w, 0);
  if (total === 0 || recipients.length < 2 || weightSum <= 0) return { pValue: 1, mismatch: false };
  let chi2 = 0;
  for (let i = 0; i < recipients.length; i++) {
    const expected = (total * (weights[i] ?? 0)) / weightSum;
    if (expected > 0) chi2 += ((recipients[i] ?? 0) - expected) ** 2 / expected;
  }
  const pValue = chiSquareSurvival(chi2, recipients.length - 1);
  return { pValue, mismatch: pValue < SRM_THRESHOLD };
}
