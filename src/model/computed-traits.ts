/**
 * Computed traits (DESIGN §8): declarative per-person aggregations over one
 * event — count, sum, min, max, mean, first, last, most frequent and unique
 * count of a property — in a rolling window or over the person's lifetime,
 * updated incrementally as each event arrives.
 *
 * State is bounded whatever a person sends. A rolling window of length W is
 * kept as at most `MAX_BUCKETS` time buckets of W / `BUCKETS` each (aligned
 * to the epoch: `BUCKETS` + 1 cover the window, the rest take events stamped
 * up to the clock-skew clamp's five minutes ahead), every bucket holding
 * count, sum, min, max, first, last and up to `BUCKET_VALUES` distinct values
 * (kept as their JSON text, so 42 and "42" stay apart) with their counts; a lifetime trait is
 * one bucket holding up to `LIFETIME_VALUES` distinct values. An event counts
 * for its whole bucket, so it never leaves a window early and leaves it at
 * most W / `BUCKETS` late (a "24h" trait forgets an event between 24 h and
 * 24 h 24 min after it). Distinct values beyond a cap are not counted. States
 * merge (a visitor's state joins the person's when the two are linked).
 */
import { z } from "zod";
import type { ProfileEvent } from "./messages";
import { traitWindow, windowMs } from "./time-windows";

export const AGGREGATIONS = [
  "count",
  "sum",
  "min",
  "max",
  "mean",
  "first",
  "last",
  "most_frequent",
  "unique_count",
] as const;
export type Aggregation = (typeof AGGREGATIONS)[number];

/** Keys name traits in templates (`computedTraits.cart_adds_7d`): lower-case letters, digits and `_`. */
export const TRAIT_KEY = /^[a-z][a-z0-9_]{0,63}$/;
export const TRAIT_KEY_RULE = "a key is 1–64 lower-case letters, digits or _, starting with a letter";

export const BUCKETS = 60;
/** Buckets at most: the window's, and room for events up to five minutes ahead in the shortest window (1h / 60 = 1 min). */
export const MAX_BUCKETS = BUCKETS + 6;
export const BUCKET_VALUES = 16;
export const LIFETIME_VALUES = 500;
/** Longest string value kept (longer ones are cut): values are labels, not documents. */
export const MAX_VALUE_CHARS = 100;

/** What a `where` filter and a value may be: one JSON scalar. */
export const scalar = z.union(
  [z.string().max(MAX_VALUE_CHARS, `a string value is at most ${MAX_VALUE_CHARS} characters`), z.number(), z.boolean()],
  {
    error: `a value is a string of at most ${MAX_VALUE_CHARS} characters, a number or a boolean`,
  },
);
export type Scalar = z.infer<typeof scalar>;

/** `{ property: value }`: every listed property must equal its value. */
export const whereFilter = z
  .record(z.string().min(1).max(256), scalar)
  .refine((w) => Object.keys(w).length <= 10, "where lists at most 10 properties");

/** The event a condition or trait is about: a track event's name, `"Page Viewed"`, `"Screen Viewed"`, or `"*"` for any. */
export const eventName = z.string().trim().min(1, "name the event").max(256);

export const computedTraitDefinition = z
  .strictObject({
    aggregation: z.enum(AGGREGATIONS),
    event: eventName,
    property: z.string().min(1).max(256).optional(),
    where: whereFilter.optional(),
    window: traitWindow,
  })
  .superRefine((d, ctx) => {
    if (d.aggregation !== "count" && d.property === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["property"],
        message: `${d.aggregation} needs a property: the event property to aggregate (such as "price")`,
      });
    }
  });
export type ComputedTraitDefinition = z.infer<typeof computedTraitDefinition>;

/** One bucket of a trait's state. `values` counts distinct values (capped); null when the aggregation needs none. */
export interface Bucket {
  k: number;
  n: number;
  sum: number;
  min: number | null;
  max: number | null;
  firstAt: number | null;
  first: Scalar | null;
  lastAt: number | null;
  last: Scalar | null;
  values: Record<string, number> | null;
}

/** Buckets, oldest first. */
export type TraitState = Bucket[];

/** A definition ready to apply: its window in ms (null: lifetime) and bucket width. */
export interface CompiledTrait {
  key: string;
  definition: ComputedTraitDefinition;
  windowMs: number | null;
  bucketMs: number | null;
  /** Changes whenever the definition does: a state made under another definition is rebuilt. */
  fingerprint: string;
  /** The id a person's state for this trait is kept under (`t:<key>:<fingerprint>`). */
  stateId: string;
}

/** Stable JSON text: object keys sorted, so equal definitions read the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** A short non-cryptographic hash (FNV-1a, 32-bit, hex) of a text: names a definition's version, nothing secret. */
export function fingerprintOf(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

export function compileTrait(key: string, definition: ComputedTraitDefinition): CompiledTrait {
  const w = definition.window === "lifetime" ? null : windowMs(definition.window);
  const fingerprint = fingerprintOf(canonicalJson(definition));
  return {
    key,
    definition,
    windowMs: w,
    bucketMs: w === null ? null : w / BUCKETS,
    fingerprint,
    stateId: `t:${key}:${fingerprint}`,
  };
}

/** The name an event is matched by: a track event's own, `Page Viewed` / `Screen Viewed` for page and screen calls. */
export function matchedName(e: Pick<ProfileEvent, "type" | "name">): string | null {
  if (e.type === "track") return e.name;
  if (e.type === "page") return "Page Viewed";
  if (e.type === "screen") return "Screen Viewed";
  return null;
}

/** Whether an event is one a trait or condition on `event` (and `where`) counts. Known bots' events never are. */
export function eventMatches(
  e: Pick<ProfileEvent, "type" | "name" | "properties" | "context">,
  event: string,
  where: Readonly<Record<string, Scalar>> | undefined,
): boolean {
  if (e.context.bot === true) return false;
  // `*` is any of the person's own actions (track, page, screen), not identify, group or alias.
  const name = matchedName(e);
  if (name === null || (event !== "*" && name !== event)) return false;
  if (where) {
    for (const [property, value] of Object.entries(where)) {
      if (!sameScalar(e.properties[property], value)) return false;
    }
  }
  return true;
}

/** Equality as a marketer means it: numbers by value (`"49.5"` equals 49.5), strings exactly. */
export function sameScalar(a: unknown, b: Scalar): boolean {
  if (typeof b === "number") return numberOf(a) === b;
  return a === b;
}

export function numberOf(v: unknown): number | null {
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (typeof v === "string" && v.trim() !== "") {
    const n = Number(v);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

/** A property value as kept: a scalar, strings cut to `MAX_VALUE_CHARS`; anything else is no value. */
export function scalarOf(v: unknown): Scalar | null {
  if (typeof v === "string") return v.slice(0, MAX_VALUE_CHARS);
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (typeof v === "boolean") return v;
  return null;
}

const NUMERIC: ReadonlySet<Aggregation> = new Set(["sum", "min", "max", "mean"]);
const DISTINCT: ReadonlySet<Aggregation> = new Set(["most_frequent", "unique_count"]);

function bucketIndex(t: CompiledTrait, at: number): number {
  return t.bucketMs === null ? 0 : Math.floor(at / t.bucketMs);
}

/** The oldest bucket index still inside the window at `now`. */
function oldestKept(t: CompiledTrait, now: number): number {
  return t.bucketMs === null || t.windowMs === null
    ? Number.NEGATIVE_INFINITY
    : Math.floor((now - t.windowMs) / t.bucketMs);
}

function emptyBucket(k: number, distinct: boolean): Bucket {
  return {
    k,
    n: 0,
    sum: 0,
    min: null,
    max: null,
    firstAt: null,
    first: null,
    lastAt: null,
    last: null,
    values: distinct ? {} : null,
  };
}

/**
 * The state after one event (which the caller matched with `eventMatches`),
 * as of `now`: buckets that left the window are dropped. Returns the same
 * array when the event changes nothing (it fell outside the window, or
 * carried no usable value); otherwise a new one, the old left untouched.
 */
export function addToTrait(
  t: CompiledTrait,
  state: TraitState,
  e: Pick<ProfileEvent, "timestamp" | "properties">,
  now: number,
): TraitState {
  return addEventsToTrait(t, state, [e], now);
}

/**
 * `addToTrait` for a batch of events at once: the state is copied once, and
 * each bucket the batch touches once, however many events land in it.
 */
export function addEventsToTrait(
  t: CompiledTrait,
  state: TraitState,
  events: readonly Pick<ProfileEvent, "timestamp" | "properties">[],
  now: number,
): TraitState {
  const agg = t.definition.aggregation;
  const floor = oldestKept(t, now);
  const cap = t.bucketMs === null ? LIFETIME_VALUES : BUCKET_VALUES;
  let next: Bucket[] | null = null;
  const owned = new Set<Bucket>();
  for (const e of events) {
    const raw = t.definition.property === undefined ? undefined : e.properties[t.definition.property];
    let value: Scalar | null = null;
    if (agg !== "count") {
      value = NUMERIC.has(agg) ? numberOf(raw) : scalarOf(raw);
      if (value === null) continue;
    }
    const k = bucketIndex(t, e.timestamp);
    if (k < floor) continue;
    if (next === null) next = (state[0]?.k ?? floor) < floor ? state.filter((b) => b.k >= floor) : state.slice();
    // Most events land in the newest bucket: search from the end.
    let i = next.length - 1;
    while (i >= 0 && (next[i] as Bucket).k > k) i--;
    let b: Bucket;
    if (i >= 0 && (next[i] as Bucket).k === k) {
      b = next[i] as Bucket;
      if (!owned.has(b)) {
        b = { ...b, values: b.values ? { ...b.values } : null };
        owned.add(b);
        next[i] = b;
      }
    } else {
      b = emptyBucket(k, DISTINCT.has(agg));
      owned.add(b);
      next.splice(i + 1, 0, b);
      // However the events are stamped, the state stays within its bound: the oldest bucket goes.
      if (next.length > MAX_BUCKETS) {
        const dropped = next.shift();
        if (dropped === b) continue;
      }
    }
    b.n += 1;
    if (typeof value === "number") {
      b.sum += value;
      b.min = b.min === null ? value : Math.min(b.min, value);
      b.max = b.max === null ? value : Math.max(b.max, value);
    }
    if (b.firstAt === null || e.timestamp < b.firstAt) {
      b.firstAt = e.timestamp;
      b.first = value;
    }
    if (b.lastAt === null || e.timestamp >= b.lastAt) {
      b.lastAt = e.timestamp;
      b.last = value;
    }
    if (b.values && value !== null) addValue(b.values, JSON.stringify(value), 1, cap);
  }
  return next === null || owned.size === 0 ? state : next;
}

function addValue(values: Record<string, number>, v: string, count: number, cap: number) {
  if (Object.hasOwn(values, v)) values[v] = (values[v] ?? 0) + count;
  // Defined, not assigned: assigning "__proto__" would set the object's prototype and count nothing.
  else if (Object.keys(values).length < cap)
    Object.defineProperty(values, v, { value: count, writable: true, enumerable: true, configurable: true });
}

/** The buckets inside the window at `now`. */
function inWindow(t: CompiledTrait, state: TraitState, now: number): Bucket[] {
  const floor = oldestKept(t, now);
  return floor === Number.NEGATIVE_INFINITY ? state : state.filter((b) => b.k >= floor);
}

/** The trait's value at `now`: 0 for counts and sums of nothing, null where nothing was seen. */
export function traitValue(t: CompiledTrait, state: TraitState, now: number): Scalar | null {
  const buckets = inWindow(t, state, now);
  const agg = t.definition.aggregation;
  let n = 0;
  let sum = 0;
  let min: number | null = null;
  let max: number | null = null;
  let first: Bucket | null = null;
  let last: Bucket | null = null;
  const values = new Map<string, number>();
  for (const b of buckets) {
    n += b.n;
    sum += b.sum;
    if (b.min !== null) min = min === null ? b.min : Math.min(min, b.min);
    if (b.max !== null) max = max === null ? b.max : Math.max(max, b.max);
    if (b.firstAt !== null && (first === null || b.firstAt < (first.firstAt ?? 0))) first = b;
    if (b.lastAt !== null && (last === null || b.lastAt >= (last.lastAt ?? 0))) last = b;
    for (const [v, c] of Object.entries(b.values ?? {})) values.set(v, (values.get(v) ?? 0) + c);
  }
  switch (agg) {
    case "count":
      return n;
    case "sum":
      return sum;
    case "min":
      return min;
    case "max":
      return max;
    case "mean":
      return n === 0 ? null : sum / n;
    case "first":
      return first?.first ?? null;
    case "last":
      return last?.last ?? null;
    case "unique_count":
      return values.size;
    case "most_frequent":
      return mostFrequent(values);
  }
}

/** The value seen most often; of values seen equally often, the smallest as JSON text (so the answer never flickers). */
function mostFrequent(values: ReadonlyMap<string, number>): Scalar | null {
  let best: string | null = null;
  let bestCount = 0;
  for (const [v, c] of values) {
    if (c > bestCount || (c === bestCount && best !== null && v < best)) {
      best = v;
      bestCount = c;
    }
  }
  return best === null ? null : (JSON.parse(best) as Scalar);
}

/** When the value can next change with no new event (its oldest bucket leaves the window); null for never. */
export function traitChangesAt(t: CompiledTrait, state: TraitState, now: number): number | null {
  if (t.bucketMs === null || t.windowMs === null) return null;
  const oldest = inWindow(t, state, now)[0];
  return oldest ? (oldest.k + 1) * t.bucketMs + t.windowMs : null;
}

/** Drops buckets that left the window (for storage; `traitValue` ignores them anyway). */
export function prunedTrait(t: CompiledTrait, state: TraitState, now: number): TraitState {
  const kept = inWindow(t, state, now);
  return kept.length === state.length ? state : kept;
}

/** One state holding both people's events, for two profiles joined into one. */
export function mergeTraitStates(t: CompiledTrait, a: TraitState, b: TraitState, now: number): TraitState {
  const byK = new Map<number, Bucket>();
  const cap = t.bucketMs === null ? LIFETIME_VALUES : BUCKET_VALUES;
  for (const bucket of [...a, ...b]) {
    const held = byK.get(bucket.k);
    if (!held) {
      byK.set(bucket.k, { ...bucket, values: bucket.values ? { ...bucket.values } : null });
      continue;
    }
    held.n += bucket.n;
    held.sum += bucket.sum;
    if (bucket.min !== null) held.min = held.min === null ? bucket.min : Math.min(held.min, bucket.min);
    if (bucket.max !== null) held.max = held.max === null ? bucket.max : Math.max(held.max, bucket.max);
    if (bucket.firstAt !== null && (held.firstAt === null || bucket.firstAt < held.firstAt)) {
      held.firstAt = bucket.firstAt;
      held.first = bucket.first;
    }
    if (bucket.lastAt !== null && (held.lastAt === null || bucket.lastAt > held.lastAt)) {
      held.lastAt = bucket.lastAt;
      held.last = bucket.last;
    }
    if (held.values && bucket.values) {
      for (const [v, c] of Object.entries(bucket.values)) addValue(held.values, v, c, cap);
    }
  }
  const merged = [...byK.values()].sort((x, y) => x.k - y.k);
  return prunedTrait(t, merged.slice(-MAX_BUCKETS), now);
}
