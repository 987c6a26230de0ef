/**
 * The profile actor's audiences and computed traits: the segment state of
 * model/segment-state.ts in storage (one `segment_state` row), the
 * audiences the person is in (`audience_members`), and what each transition
 * leaves behind — the `Audience Entered` / `Audience Exited` event in the
 * timeline and the outbox, the membership stint for the warehouse, and one
 * pending webhook delivery per destination (actors/webhooks.ts sends them).
 *
 * Memory is a write-through copy, so evaluating every audience on every
 * event reads no storage. All writes happen inside the caller's transaction,
 * with the change they follow from.
 */

import { AUDIENCE_LIBRARY, type Person, transitionEvent, webhookBody } from "../model/audience-delivery";
import { type Definitions, mergeRecent, type Transition, transitionsOf } from "../model/audiences";
import { type ChangeRecord, eventRecordOf, NO_EVENT_FACTS } from "../model/changes";
import { mergeTraitStates, type Scalar, type TraitState } from "../model/computed-traits";
import type { ProfileEvent } from "../model/messages";
import type { ProfileState } from "../model/profile";
import { publicProfileId } from "../model/profile-id";
import {
  computedTraitValues,
  decodeSegmentState,
  type EventIndex,
  emptySegmentState,
  encodeSegmentState,
  evaluateAudiences,
  type PersonFacts,
  type SegmentChanges,
  type SegmentEvent,
  type SegmentState,
  segmentChangesOf,
  withSegmentChanges,
} from "../model/segment-state";
import { insertRecentEvents, recentEventRowOf } from "./profile-store";

/** What one evaluation decided, ready to persist and commit. */
export interface SegmentPlan {
  changes: SegmentChanges | null;
  state: SegmentState;
  transitions: Transition[];
  /** Audiences held that are no longer defined: they end without a transition (their destinations went with them). */
  undefinedMembers: string[];
  dueAt: number | null;
  /** The definitions it was made under. */
  fingerprint: string;
  events: ProfileEvent[];
  records: ChangeRecord[];
  deliveries: { messageId: string; audience: string; url: string; body: string }[];
}

/** State a person's segments hand to the person a visitor joins. */
export interface SegmentHandover {
  states: [string, string][];
  tracked: string[];
}

/** Who a transition is about, from the profile. */
export function personOf(p: ProfileState): Person & { version: number } {
  const email = p.traits.email;
  return {
    profileId: publicProfileId(p.actorKey),
    userId: p.userId,
    anonymousId: p.anonymousIds.at(-1) ?? null,
    email: typeof email === "string" && email.includes("@") ? email : null,
    version: p.version,
  };
}

export class PersonSegments {
  private state: SegmentState = emptySegmentState();
  private readonly members = new Map<string, number>();
  /** When an audience may next change by time alone (from the last evaluation). */
  private dueAt: number | null = null;
  /** The due time as stored with the state: a change of it alone is written too. */
  private storedDueAt: number | null = null;
  /** When the first pending webhook delivery is due (null: none pending). */
  deliveryAt: number | null = null;
  /** The definitions (by fingerprint) this person was last evaluated under, as stored with the state. */
  private evaluatedUnder: string | null = null;

  load(sql: SqlStorage) {
    const row = sql.exec<{ state: string }>("SELECT state FROM segment_state WHERE id = 1").toArray()[0];
    const stored = row ? decodeSegmentState(row.state) : { state: emptySegmentState(), due: null, fingerprint: null };
    this.state = stored.state;
    this.dueAt = stored.due;
    this.storedDueAt = stored.due;
    this.evaluatedUnder = stored.fingerprint;
    this.members.clear();
    for (const r of sql.exec<{ audience: string; entered_at: number }>(
      "SELECT audience, entered_at FROM audience_members",
    )) {
      this.members.set(r.audience, r.entered_at);
    }
    this.deliveryAt = earliestDelivery(sql);
  }

  clear() {
    this.state = emptySegmentState();
    this.members.clear();
    this.dueAt = null;
    this.storedDueAt = null;
    this.deliveryAt = null;
    this.evaluatedUnder = null;
  }

  /** The audiences the person is in, with when they entered (for an export). */
  memberships(): { key: string; enteredAt: number }[] {
    return [...this.members].map(([key, enteredAt]) => ({ key, enteredAt }));
  }

  /** Audience keys the person is in now. */
  audiences(): string[] {
    return [...this.members.keys()].sort();
  }

  computedTraits(defs: Definitions, now: number): Record<string, Scalar | null> {
    return computedTraitValues(defs, this.state, now);
  }

  /** When the alarm should next come for segments: an audience due by time, or a delivery. */
  get wakeAt(): number | null {
    if (this.dueAt === null) return this.deliveryAt;
    if (this.deliveryAt === null) return this.dueAt;
    return Math.min(this.dueAt, this.deliveryAt);
  }

  /** Whether an audience may have changed by time alone. */
  due(now: number): boolean {
    return this.dueAt !== null && this.dueAt <= now;
  }

  /**
   * Whether the definitions changed since this person was last evaluated
   * (an audience or trait new, changed or gone): a read then evaluates them
   * first, so it answers as an event would.
   */
  behind(defs: Definitions): boolean {
    return !this.idle(defs) && this.evaluatedUnder !== defs.fingerprint;
  }

  /** Nothing defined and nothing held: a batch need not look at segments at all. */
  idle(defs: Definitions): boolean {
    return (
      defs.audiences.length === 0 &&
      defs.traits.length === 0 &&
      this.state.tracked.size === 0 &&
      this.members.size === 0
    );
  }

  /**
   * Plans what `events` (none, for an evaluation by time or a backfill) do to
   * the segment state and the audiences, as of `now`. `facts` are the
   * person's profile after the batch; `history` the events held from before it.
   */
  plan(
    compiled: { defs: Definitions; index: EventIndex },
    events: readonly SegmentEvent[],
    person: Person & { version: number },
    facts: PersonFacts,
    now: number,
    history: () => readonly SegmentEvent[],
  ): SegmentPlan {
    const { defs, index } = compiled;
    const changes = segmentChangesOf(defs, index, this.state, events, now, history);
    const unchanged = changes.traits.size === 0 && changes.recency.size === 0 && changes.tracked === null;
    const state = unchanged ? this.state : withSegmentChanges(this.state, changes);
    const { answers, changesAt } = evaluateAudiences(defs, state, facts, now);
    // A membership of an audience that is gone, or that began before the audience of that key was created
    // (deleted and made again), ends without a transition: its destinations went with it.
    const created = new Map(defs.audiences.map((a) => [a.key, a.createdAt]));
    const held = new Map<string, number>();
    const undefinedMembers: string[] = [];
    for (const [key, enteredAt] of this.members) {
      const since = created.get(key);
      if (since === undefined || enteredAt < since) undefinedMembers.push(key);
      else held.set(key, enteredAt);
    }
    const transitions = transitionsOf(held, answers, now);
    const plan: SegmentPlan = {
      changes: unchanged ? null : changes,
      state,
      transitions,
      undefinedMembers,
      dueAt: changesAt,
      fingerprint: defs.fingerprint,
      events: [],
      records: [],
      deliveries: [],
    };
    // The warehouse's stint of such a membership ends too (a deleted audience's were closed at once; not one an
    // isolate with older definitions opened since).
    for (const key of undefinedMembers) {
      plan.records.push({
        kind: "audience",
        profileId: person.profileId,
        version: person.version,
        at: now,
        audience: { key, enteredAt: this.members.get(key) ?? now, exitedAt: now },
      });
    }
    this.describeTransitions(plan, defs, person, now);
    return plan;
  }

  /** Every audience the person is in ends now (a visitor handed over to the person it joined). */
  planExitAll(defs: Definitions, person: Person & { version: number }, now: number): SegmentPlan {
    const names = new Map(defs.audiences.map((a) => [a.key, a.name]));
    const plan: SegmentPlan = {
      changes: null,
      state: this.state,
      transitions: [...this.members].map(([audience, enteredAt]) => ({
        audience,
        name: names.get(audience) ?? audience,
        kind: "exited" as const,
        enteredAt,
        at: now,
      })),
      undefinedMembers: [],
      dueAt: null,
      fingerprint: this.evaluatedUnder ?? defs.fingerprint,
      events: [],
      records: [],
      deliveries: [],
    };
    this.describeTransitions(plan, defs, person, now);
    return plan;
  }

  private describeTransitions(plan: SegmentPlan, defs: Definitions, person: Person & { version: number }, now: number) {
    const byKey = new Map(defs.audiences.map((a) => [a.key, a]));
    for (const t of plan.transitions) {
      const e = transitionEvent(t, person);
      plan.events.push(e);
      const head = { profileId: person.profileId, version: person.version, at: now };
      plan.records.push(eventRecordOf(e, head, NO_EVENT_FACTS), {
        kind: "audience",
        ...head,
        audience: { key: t.audience, enteredAt: t.enteredAt, exitedAt: t.kind === "exited" ? t.at : null },
      });
      const body = webhookBody(e);
      for (const d of byKey.get(t.audience)?.destinations ?? []) {
        plan.deliveries.push({ messageId: e.messageId, audience: t.audience, url: d.url, body });
      }
    }
  }

  /** Whether a plan changes what is stored: the state, the due time, or the definitions it was evaluated under. */
  private changesStored(plan: SegmentPlan): boolean {
    return plan.changes !== null || plan.dueAt !== this.storedDueAt || plan.fingerprint !== this.evaluatedUnder;
  }

  /** Writes a plan; call inside the caller's transaction, then `commit` it. */
  persist(sql: SqlStorage, plan: SegmentPlan, now: number) {
    // The whole state in one row: one statement per batch however many traits and conditions changed.
    if (this.changesStored(plan)) {
      const stored = encodedWithinBudget(plan.state, plan.dueAt, plan.fingerprint);
      plan.state = stored.state;
      sql.exec("INSERT OR REPLACE INTO segment_state (id, state) VALUES (1, ?)", stored.text);
    }
    for (const key of plan.undefinedMembers) sql.exec("DELETE FROM audience_members WHERE audience = ?", key);
    for (const t of plan.transitions) {
      if (t.kind === "entered") {
        sql.exec(
          "INSERT OR REPLACE INTO audience_members (audience, entered_at) VALUES (?, ?)",
          t.audience,
          t.enteredAt,
        );
      } else sql.exec("DELETE FROM audience_members WHERE audience = ?", t.audience);
    }
    if (plan.events.length > 0) {
      insertRecentEvents(sql, plan.events.map(recentEventRowOf));
    }
    for (const d of plan.deliveries) {
      // Behind any delivery to the same URL that is waiting to be tried again: never due before it.
      sql.exec(
        `INSERT INTO webhook_deliveries (message_id, audience, url, body, attempts, next_at)
         VALUES (?, ?, ?, ?, 0, MAX(?, COALESCE((SELECT MAX(next_at) FROM webhook_deliveries WHERE url = ?), 0)))`,
        d.messageId,
        d.audience,
        d.url,
        d.body,
        now,
        d.url,
      );
    }
  }

  commit(plan: SegmentPlan, now: number) {
    this.state = plan.state;
    if (this.changesStored(plan)) {
      this.storedDueAt = plan.dueAt;
      this.evaluatedUnder = plan.fingerprint;
    }
    this.dueAt = plan.dueAt;
    for (const key of plan.undefinedMembers) this.members.delete(key);
    for (const t of plan.transitions) {
      if (t.kind === "entered") this.members.set(t.audience, t.enteredAt);
      else this.members.delete(t.audience);
    }
    if (plan.deliveries.length > 0) this.deliveryAt = Math.min(this.deliveryAt ?? now, now);
  }

  /** What a visitor's actor hands over when it joins a person: its states, as stored. */
  handover(): SegmentHandover {
    return {
      states: [...this.state.traits, ...this.state.recency].map(([id, s]) => [id, JSON.stringify(s)]),
      tracked: [...this.state.tracked],
    };
  }

  /**
   * Joins a visitor's states into this person's (both people's events counted
   * once each), inside the caller's transaction, written at once.
   */
  absorb(sql: SqlStorage, defs: Definitions, theirs: SegmentHandover, now: number) {
    const traitsById = new Map(defs.traits.map((t) => [`t:${t.key}:${t.fingerprint}`, t]));
    const keepById = new Map(defs.recency.map((r) => [`r:${r.id}`, r.keep]));
    const traits = new Map(this.state.traits);
    const recency = new Map(this.state.recency);
    for (const [id, text] of theirs.states) {
      // Only states both sides track under the same definition join; the rest are rebuilt from the merged events.
      if (!this.state.tracked.has(id)) continue;
      const t = traitsById.get(id);
      let joined: unknown[] | null = null;
      if (t) joined = mergeTraitStates(t, traits.get(id) ?? [], JSON.parse(text) as TraitState, now);
      const keep = keepById.get(id);
      if (keep !== undefined) joined = mergeRecent(recency.get(id) ?? [], JSON.parse(text) as number[], keep);
      if (!joined) continue;
      if (t) traits.set(id, joined as TraitState);
      else recency.set(id, joined as number[]);
    }
    this.state = { traits, recency, tracked: this.state.tracked };
    writeState(sql, this.state, this.storedDueAt, this.evaluatedUnder);
  }

  /** After an erasure or a wipe of storage. */
  forgetDeliveries(sql: SqlStorage) {
    this.deliveryAt = earliestDelivery(sql);
  }
}

/**
 * The stored state is one SQLite value, which holds at most 2 MB. Distinct
 * values are what can fill it (anyone may send long, varied ones): past
 * `STATE_BUDGET_BYTES`, the largest trait's distinct values are forgotten —
 * its distinct count starts again, logged — rather than a batch that could
 * never commit.
 */
const STATE_BUDGET_BYTES = 1_500_000;

function encodedWithinBudget(
  state: SegmentState,
  due: number | null,
  fingerprint: string,
): { state: SegmentState; text: string } {
  let current = state;
  let text = encodeSegmentState(current, due, fingerprint);
  // Characters are at most 3 bytes of UTF-8: a text this short cannot be over.
  while (text.length * 3 > STATE_BUDGET_BYTES && new TextEncoder().encode(text).length > STATE_BUDGET_BYTES) {
    const largest = [...current.traits]
      .filter(([, buckets]) => buckets.some((b) => b.values && Object.keys(b.values).length > 0))
      .map(([id, buckets]) => ({ id, size: JSON.stringify(buckets).length }))
      .sort((a, b) => b.size - a.size)[0];
    if (!largest) break;
    console.warn(
      JSON.stringify({ msg: "segment state over budget: a trait's distinct values forgotten", trait: largest.id }),
    );
    const traits = new Map(current.traits);
    traits.set(
      largest.id,
      (traits.get(largest.id) ?? []).map((b) => ({ ...b, values: b.values ? {} : null })),
    );
    current = { ...current, traits };
    text = encodeSegmentState(current, due, fingerprint);
  }
  return { state: current, text };
}

function writeState(sql: SqlStorage, state: SegmentState, due: number | null, fingerprint: string | null) {
  sql.exec(
    "INSERT OR REPLACE INTO segment_state (id, state) VALUES (1, ?)",
    encodeSegmentState(state, due, fingerprint),
  );
}

function earliestDelivery(sql: SqlStorage): number | null {
  const row = sql.exec<{ at: number | null }>("SELECT MIN(next_at) AS at FROM webhook_deliveries").toArray()[0];
  return row?.at ?? null;
}

/** The events the actor holds from before a batch, oldest first, without the transitions it recorded itself. */
export function heldEvents(sql: SqlStorage): SegmentEvent[] {
  const out: SegmentEvent[] = [];
  for (const r of sql.exec<{ type: string; name: string | null; timestamp: number; body: string }>(
    "SELECT type, name, timestamp, body FROM recent_events ORDER BY seq",
  )) {
    const body = JSON.parse(r.body) as { properties?: Record<string, unknown>; context?: Record<string, unknown> };
    const context = body.context ?? {};
    if ((context.library as { name?: unknown } | undefined)?.name === AUDIENCE_LIBRARY) continue;
    out.push({
      type: r.type as SegmentEvent["type"],
      name: r.name,
      timestamp: r.timestamp,
      properties: body.properties ?? {},
      context,
    });
  }
  return out;
}
