/**
 * The arithmetic of the quality checks (DESIGN §9), free of any store: how
 * an observed value is graded against its thresholds, the robust z-score the
 * volume check uses, the outlier rule, e-mail syntax, and the reconciliation
 * of the lake against the warehouse. The checks' queries live in
 * `quality/checks.ts`.
 */

export type CheckStatus = "pass" | "warn" | "fail";

export interface Threshold {
  warn: number;
  fail: number;
  /** `above`: the value is bad when it is over the bounds (a share missing, a lag); `below`: under them. */
  direction: "above" | "below";
}

export interface CheckResult {
  check: string;
  status: CheckStatus;
  /** What was measured, in `unit`; null when there was nothing to measure (then the check passes). */
  observed: number | null;
  threshold: Threshold;
  unit: string;
  /** One sentence an operator reads first. */
  detail: string;
  /** A few offending rows, to start looking from. */
  sample: unknown[];
}

/** The status an observed value earns. Nothing measured passes. */
export function grade(observed: number | null, t: Threshold): CheckStatus {
  if (observed === null || Number.isNaN(observed)) return "pass";
  const over = (bound: number) => (t.direction === "above" ? observed > bound : observed < bound);
  if (over(t.fail)) return "fail";
  if (over(t.warn)) return "warn";
  return "pass";
}

const RANK: Record<CheckStatus, number> = { pass: 0, warn: 1, fail: 2 };

/** A run's status: its worst check's. */
export function worstOf(statuses: readonly CheckStatus[]): CheckStatus {
  let worst: CheckStatus = "pass";
  for (const s of statuses) if (RANK[s] > RANK[worst]) worst = s;
  return worst;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const hi = sorted[mid] ?? Number.NaN;
  return sorted.length % 2 === 1 ? hi : ((sorted[mid - 1] ?? hi) + hi) / 2;
}

/**
 * The modified z-score of Iglewicz and Hoaglin (1993, "How to Detect and
 * Handle Outliers"): 0.6745·(x − median)/MAD, where MAD is the median
 * absolute deviation from the median (0.6745 makes it comparable to a
 * standard score under a normal distribution). When MAD is 0 (half the
 * history identical) the mean absolute deviation stands in, scaled by
 * 1.253314 (√(π/2), its ratio to σ under normality); when that is 0 too,
 * any departure from the constant history is infinitely unusual.
 */
export function modifiedZ(x: number, history: readonly number[]): number {
  if (history.length === 0) return 0;
  const m = median(history);
  const deviations = history.map((h) => Math.abs(h - m));
  const mad = median(deviations);
  if (mad > 0) return (0.6745 * (x - m)) / mad;
  const meanAd = deviations.reduce((a, b) => a + b, 0) / deviations.length;
  if (meanAd > 0) return (x - m) / (1.253314 * meanAd);
  return x === m ? 0 : x > m ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
}

/** Iglewicz and Hoaglin's recommended cut-off: |modified z| above 3.5 is a potential outlier. */
export const OUTLIER_Z = 3.5;

export interface VolumeFinding {
  name: string;
  today: number;
  /** The trailing days' counts, oldest first. */
  history: number[];
  median: number;
  z: number;
  /** (today − median) / median. */
  change: number;
}

/** Event names whose median day has fewer events than this are too thin to judge. */
export const MIN_DAILY_VOLUME = 20;
/** A change smaller than this is never an anomaly, however steady the history (a 3% rise on a flat week). */
export const MIN_VOLUME_CHANGE = 0.2;

/**
 * Today's count of each event name against its trailing days: an anomaly
 * when the modified z-score passes `OUTLIER_Z` and the change is at least
 * `MIN_VOLUME_CHANGE`, for names with enough volume. Most unusual first.
 */
export function volumeAnomalies(series: ReadonlyMap<string, { today: number; history: number[] }>): VolumeFinding[] {
  const findings: VolumeFinding[] = [];
  for (const [name, { today, history }] of series) {
    const m = median(history);
    if (!(m >= MIN_DAILY_VOLUME)) continue;
    const z = modifiedZ(today, history);
    const change = (today - m) / m;
    if (Math.abs(z) > OUTLIER_Z && Math.abs(change) >= MIN_VOLUME_CHANGE) {
      findings.push({ name, today, history, median: m, z, change });
    }
  }
  return findings.sort((a, b) => Math.abs(b.change) - Math.abs(a.change));
}

/** A price this many times its product's median (or less than its inverse) is out of line. */
export const PRICE_RATIO = 10;

export interface PricedEvent {
  productId: string | null;
  price: number;
}

export interface PriceOutlier {
  index: number;
  productId: string | null;
  price: number;
  /** The product's median price in the window; null when the price is wrong by itself (negative, not finite). */
  typical: number | null;
}

/**
 * Prices out of line with the same product's other prices in the window: a
 * missing decimal point (1999 for 19.99) or cents sent as units is a factor
 * of 100; a sale is not a factor of ten. A negative or non-finite price is
 * always wrong; a zero price (a free sample) is never an outlier. Products
 * seen once have nothing to compare with.
 */
export function priceOutliers(events: readonly PricedEvent[]): PriceOutlier[] {
  const byProduct = new Map<string, number[]>();
  for (const e of events) {
    if (e.productId === null || !Number.isFinite(e.price) || e.price <= 0) continue;
    const list = byProduct.get(e.productId);
    if (list) list.push(e.price);
    else byProduct.set(e.productId, [e.price]);
  }
  const typical = new Map([...byProduct].filter(([, p]) => p.length >= 3).map(([id, p]) => [id, median(p)]));
  const out: PriceOutlier[] = [];
  events.forEach((e, index) => {
    if (!Number.isFinite(e.price) || e.price < 0) {
      out.push({ index, productId: e.productId, price: e.price, typical: null });
      return;
    }
    const m = e.productId === null ? undefined : typical.get(e.productId);
    if (m === undefined || e.price === 0) return;
    if (e.price > m * PRICE_RATIO || e.price < m / PRICE_RATIO) {
      out.push({ index, productId: e.productId, price: e.price, typical: m });
    }
  });
  return out;
}

/**
 * The WHATWG HTML "valid e-mail address" production (HTML Living Standard,
 * §4.10.5.1.5): what a browser's `type=email` accepts — deliberately simpler
 * than RFC 5322, and what a marketer means by "an address we can send to".
 */
const EMAIL =
  /^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

export function isValidEmail(address: string): boolean {
  return address.length <= 254 && EMAIL.test(address.trim());
}

export interface HourReconciliation {
  /** `dt=YYYY-MM-DD/hour=HH` */
  hour: string;
  warehouse: number;
  lake: number;
  /** Keys the warehouse names for this hour that the lake does not hold. */
  missingObjects: string[];
}

/** Hours where the lake's lines and the warehouse's rows disagree, oldest first. */
export function reconcileHours(
  warehouseByKey: ReadonlyMap<string, number>,
  lakeByKey: ReadonlyMap<string, number>,
): HourReconciliation[] {
  const hours = new Map<string, HourReconciliation>();
  const hourOf = (key: string) => /dt=\d{4}-\d{2}-\d{2}\/hour=\d{2}/.exec(key)?.[0] ?? "unpartitioned";
  const entry = (key: string) => {
    const hour = hourOf(key);
    let h = hours.get(hour);
    if (!h) {
      h = { hour, warehouse: 0, lake: 0, missingObjects: [] };
      hours.set(hour, h);
    }
    return h;
  };
  for (const [key, rows] of warehouseByKey) {
    const h = entry(key);
    h.warehouse += rows;
    if (!lakeByKey.has(key)) h.missingObjects.push(key);
  }
  for (const [key, lines] of lakeByKey) entry(key).lake += lines;
  return [...hours.values()]
    .filter((h) => h.warehouse !== h.lake || h.missingObjects.length > 0)
    .sort((a, b) => a.hour.localeCompare(b.hour));
}
