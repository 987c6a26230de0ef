/**
 * An audience's recent past from its membership stints (DESIGN §8): the
 * period a history covers, its size at each hour or day boundary of it, and
 * the newest entries and exits. Pure: the warehouse queries that feed it are
 * in audiences/history.ts.
 *
 * A person is in the audience at instant t when a stint has
 * `entered_at <= t AND (exited_at IS NULL OR exited_at > t)` (docs/audiences.md).
 * Counting that per boundary would read every stint of the audience; instead
 * the size at t is the current size minus the entries after t plus the exits
 * after t, so only the period's entries and exits are read, counted per
 * bucket: size(t) = current − #{entered_at > t} + #{exited_at > t}.
 */

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

/** The longest history the API gives, and the longest an hourly one may be (169 points at most). */
export const MAX_HISTORY_DAYS = 90;
export const MAX_HOURLY_DAYS = 7;

export type Bucket = "hour" | "day";

export interface Period {
  bucket: Bucket;
  bucketMs: number;
  /** The first boundary: `buckets` whole buckets before the last boundary at or before `until`, plus that one. */
  since: number;
  until: number;
  /** Boundaries from `since` to the last one at or before `until`. */
  boundaries: number;
}

/** The period of `days` ending at `now`, in UTC hours or days (boundaries aligned to the bucket). */
export function periodOf(days: number, bucket: Bucket, now: number): Period {
  const bucketMs = bucket === "hour" ? HOUR_MS : DAY_MS;
  const boundaries = bucket === "hour" ? days * 24 : days;
  const last = Math.floor(now / bucketMs) * bucketMs;
  return { bucket, bucketMs, since: last - (boundaries - 1) * bucketMs, until: now, boundaries };
}

/**
 * The bucket an instant after `since` falls in: (since, since + b] is 0,
 * (since + b, since + 2b] is 1 … so "after boundary k" is "in bucket k or later".
 * The same expression is the SQL the warehouse groups by.
 */
export const bucketOf = (at: number, period: Period) => Math.floor((at - period.since - 1) / period.bucketMs);

export interface BucketCount {
  bucket: number;
  n: number;
}

/**
 * The size at each boundary of the period and at its end, from the current
 * size and the period's entries and exits per bucket (instants after `since`).
 */
export function sizeSeries(
  period: Period,
  current: number,
  entries: readonly BucketCount[],
  exits: readonly BucketCount[],
): { at: number; size: number }[] {
  // delta[k]: exits minus entries in bucket k; size at boundary j = current + Σ over k ≥ j.
  const delta = new Map<number, number>();
  for (const e of entries) delta.set(e.bucket, (delta.get(e.bucket) ?? 0) - e.n);
  for (const e of exits) delta.set(e.bucket, (delta.get(e.bucket) ?? 0) + e.n);
  // Buckets past the last boundary (an instant after `until`, by a clock a little ahead) count as after it.
  let after = 0;
  for (const [k, d] of delta) if (k >= period.boundaries) after += d;
  const points: { at: number; size: number }[] = [{ at: period.until, size: current }];
  let size = current + after;
  for (let j = period.boundaries - 1; j >= 0; j--) {
    size += delta.get(j) ?? 0;
    points.push({ at: period.since + j * period.bucketMs, size: Math.max(0, size) });
  }
  return points.reverse();
}

export interface Transition {
  profileId: string;
  kind: "entered" | "exited";
  at: number;
}

/** The newest `limit` transitions of several newest-first lists: newest first, an exit before an entry of the same instant. */
export function newestTransitions(lists: readonly (readonly Transition[])[], limit: number): Transition[] {
  return lists
    .flat()
    .sort(
      (a, b) =>
        b.at - a.at || (a.kind === b.kind ? a.profileId.localeCompare(b.profileId) : a.kind === "exited" ? -1 : 1),
    )
    .slice(0, limit);
}
