/**
 * One person's segment state: the computed traits' buckets and the event
 * conditions' recency lists their actor keeps, how a batch of events changes
 * them, and what the audiences answer for that person now. Pure: the actor
 * persists what this returns, so the rules are unit-tested with an injected
 * clock.
 *
 * Each trait's and condition's state is tracked under an id that changes with
 * its definition. A definition the person has no state for yet (new, or
 * changed) starts from what their actor still holds — its recent-events ring
 * — so a new audience answers for someone's recent past at once; older
 * history lives in the warehouse.
 */
import type { DecayingScore } from "./affinity";
import { type Definitions, type Evaluation, evaluateRule, type RecencySpec, withRecent } from "./audiences";
import {
  addEventsToTrait,
  type CompiledTrait,
  eventMatches,
  matchedName,
  type Scalar,
  type TraitState,
  traitChangesAt,
  traitValue,
} from "./computed-traits";
import type { ProfileEvent } from "./messages";

/** What a segment needs of an event. */
export type SegmentEvent = Pick<ProfileEvent, "type" | "name" | "timestamp" | "properties" | "context">;

/** The state id of a computed trait under one definition. */
export const traitStateId = (t: CompiledTrait) => t.stateId;
/** The state id of an event condition's recency list. */
export const recencyStateId = (r: RecencySpec) => `r:${r.id}`;

export interface SegmentState {
  /** Trait buckets by state id (absent: tracked and empty). */
  traits: ReadonlyMap<string, TraitState>;
  /** Recency lists by state id, newest first (absent: tracked and empty). */
  recency: ReadonlyMap<string, readonly number[]>;
  /** Every state id this person's actor keeps up to date. */
  tracked: ReadonlySet<string>;
}

export const emptySegmentState = (): SegmentState => ({ traits: new Map(), recency: new Map(), tracked: new Set() });

export interface SegmentChanges {
  traits: Map<string, TraitState>;
  recency: Map<string, readonly number[]>;
  /** State ids no longer defined: their rows go. */
  dropped: string[];
  /** The tracked set after this batch, when it changed. */
  tracked: Set<string> | null;
}

/** Which traits and recency lists each event name feeds (`*`: every event). */
export interface EventIndex {
  byName: Map<string, { traits: CompiledTrait[]; recency: RecencySpec[] }>;
}

export function eventIndexOf(defs: Pick<Definitions, "traits" | "recency">): EventIndex {
  const byName = new Map<string, { traits: CompiledTrait[]; recency: RecencySpec[] }>();
  const entry = (name: string) => {
    const held = byName.get(name);
    if (held) return held;
    const fresh = { traits: [] as CompiledTrait[], recency: [] as RecencySpec[] };
    byName.set(name, fresh);
    return fresh;
  };
  for (const t of defs.traits) entry(t.definition.event).traits.push(t);
  for (const r of defs.recency) entry(r.event).recency.push(r);
  return { byName };
}

/**
 * How `events` (already deduplicated) change a person's segment state as of
 * `now`. `history` answers the events the actor still holds from before this
 * batch; it is asked only when a definition is new to this person.
 */
export function segmentChangesOf(
  defs: Definitions,
  index: EventIndex,
  state: SegmentState,
  events: readonly SegmentEvent[],
  now: number,
  history: () => readonly SegmentEvent[],
): SegmentChanges {
  const changes: SegmentChanges = { traits: new Map(), recency: new Map(), dropped: [], tracked: null };
  const wanted = new Set<string>();
  let past: readonly SegmentEvent[] | null = null;
  for (const t of defs.traits) {
    const id = traitStateId(t);
    wanted.add(id);
    if (state.tracked.has(id)) continue;
    past ??= history();
    const matching = past.filter((e) => eventMatches(e, t.definition.event, t.definition.where));
    changes.traits.set(id, addEventsToTrait(t, [], matching, now));
  }
  for (const r of defs.recency) {
    const id = recencyStateId(r);
    wanted.add(id);
    if (state.tracked.has(id)) continue;
    past ??= history();
    const list = withRecent(
      [],
      past.filter((e) => eventMatches(e, r.event, r.where)).map((e) => e.timestamp),
      r.keep,
    );
    changes.recency.set(id, list);
  }
  // Each definition takes its batch's matching events at once: its state is copied once per batch.
  const fedTraits = new Map<CompiledTrait, SegmentEvent[]>();
  const fedRecency = new Map<RecencySpec, number[]>();
  for (const e of events) {
    const name = matchedName(e);
    if (name === null) continue;
    // An event named "*" is fed once, not again as any event.
    for (const fed of name === "*" ? [index.byName.get("*")] : [index.byName.get(name), index.byName.get("*")]) {
      if (!fed) continue;
      for (const t of fed.traits) {
        if (!eventMatches(e, t.definition.event, t.definition.where)) continue;
        const list = fedTraits.get(t);
        if (list) list.push(e);
        else fedTraits.set(t, [e]);
      }
      for (const r of fed.recency) {
        if (!eventMatches(e, r.event, r.where)) continue;
        const list = fedRecency.get(r);
        if (list) list.push(e.timestamp);
        else fedRecency.set(r, [e.timestamp]);
      }
    }
  }
  for (const [t, fed] of fedTraits) {
    const id = traitStateId(t);
    const before = changes.traits.get(id) ?? state.traits.get(id) ?? [];
    const after = addEventsToTrait(t, before, fed, now);
    if (after !== before) changes.traits.set(id, after);
  }
  for (const [r, times] of fedRecency) {
    const id = recencyStateId(r);
    const before = changes.recency.get(id) ?? state.recency.get(id) ?? [];
    const after = withRecent(before, times, r.keep);
    if (after !== before) changes.recency.set(id, after);
  }
  const stale = [...state.tracked].filter((id) => !wanted.has(id));
  if (stale.length > 0 || [...wanted].some((id) => !state.tracked.has(id))) {
    changes.dropped = stale;
    changes.tracked = wanted;
  }
  return changes;
}

/** `state` with `changes` applied (a new object; the old is untouched). */
export function withSegmentChanges(state: SegmentState, changes: SegmentChanges): SegmentState {
  const traits = new Map(state.traits);
  const recency = new Map(state.recency);
  for (const id of changes.dropped) {
    traits.delete(id);
    recency.delete(id);
  }
  for (const [id, s] of changes.traits) traits.set(id, s);
  for (const [id, s] of changes.recency) recency.set(id, s);
  return { traits, recency, tracked: changes.tracked ?? state.tracked };
}

/** What the person's profile holds that rules read, beside the segment state. */
export interface PersonFacts {
  traits: Readonly<Record<string, unknown>>;
  personalization: boolean | null;
  affinity(dimension: string): DecayingScore | undefined;
  halfLifeMs: number;
}

/** Every computed trait's value at `now`, by key (for the profile and the merge JSON). */
export function computedTraitValues(
  defs: Definitions,
  state: SegmentState,
  now: number,
): Record<string, Scalar | null> {
  const out: Record<string, Scalar | null> = {};
  for (const t of defs.traits) out[t.key] = traitValue(t, state.traits.get(traitStateId(t)) ?? [], now);
  return out;
}

export interface AudienceAnswers {
  answers: Map<string, { name: string; member: boolean }>;
  /** The earliest time any answer may change with no new event. */
  changesAt: number | null;
}

/** What each audience answers for this person at `now`. */
export function evaluateAudiences(
  defs: Definitions,
  state: SegmentState,
  person: PersonFacts,
  now: number,
): AudienceAnswers {
  const traitsByKey = defs.traitsByKey;
  const computedCache = new Map<string, { value: Scalar | null; changesAt: number | null }>();
  const inputs = {
    now,
    ...person,
    computed(key: string) {
      const held = computedCache.get(key);
      if (held) return held;
      const t = traitsByKey.get(key);
      if (!t) return undefined;
      const buckets = state.traits.get(traitStateId(t)) ?? [];
      const answer = { value: traitValue(t, buckets, now), changesAt: traitChangesAt(t, buckets, now) };
      computedCache.set(key, answer);
      return answer;
    },
    recent: (spec: string) => state.recency.get(`r:${spec}`) ?? [],
  };
  const answers = new Map<string, { name: string; member: boolean }>();
  let changesAt: number | null = null;
  for (const a of defs.audiences) {
    const e: Evaluation = evaluateRule(a.rule, inputs);
    answers.set(a.key, { name: a.name, member: e.member });
    if (e.changesAt !== null && (changesAt === null || e.changesAt < changesAt)) changesAt = e.changesAt;
  }
  return { answers, changesAt };
}

/** A bucket as stored: `[k, n, sum, min, max, firstAt, first, lastAt, last, values]`. */
type StoredBucket = [
  number,
  number,
  number,
  number | null,
  number | null,
  number | null,
  Scalar | null,
  number | null,
  Scalar | null,
  Record<string, number> | null,
];

interface StoredSegments {
  v: 1;
  due: number | null;
  /** The definitions the person was last evaluated under. */
  f?: string | null;
  tracked: string[];
  t: Record<string, StoredBucket[]>;
  r: Record<string, number[]>;
}

/**
 * The whole segment state as one compact JSON text (buckets as arrays), with
 * the time the audiences are next due: what the actor writes, one row per
 * batch. Empty states are left out (tracked and empty).
 */
export function encodeSegmentState(state: SegmentState, due: number | null, fingerprint: string | null = null): string {
  const t: Record<string, StoredBucket[]> = {};
  for (const [id, buckets] of state.traits) {
    if (buckets.length === 0) continue;
    t[id] = buckets.map((b) => [b.k, b.n, b.sum, b.min, b.max, b.firstAt, b.first, b.lastAt, b.last, b.values]);
  }
  const r: Record<string, readonly number[]> = {};
  for (const [id, list] of state.recency) if (list.length > 0) r[id] = list;
  return JSON.stringify({ v: 1, due, f: fingerprint, tracked: [...state.tracked], t, r });
}

export function decodeSegmentState(text: string): {
  state: SegmentState;
  due: number | null;
  fingerprint: string | null;
} {
  const stored = JSON.parse(text) as StoredSegments;
  const traits = new Map<string, TraitState>();
  for (const [id, buckets] of Object.entries(stored.t)) {
    traits.set(
      id,
      buckets.map(([k, n, sum, min, max, firstAt, first, lastAt, last, values]) => ({
        k,
        n,
        sum,
        min,
        max,
        firstAt,
        first,
        lastAt,
        last,
        values,
      })),
    );
  }
  return {
    state: { traits, recency: new Map(Object.entries(stored.r)), tracked: new Set(stored.tracked) },
    due: stored.due,
    fingerprint: stored.f ?? null,
  };
}
