/**
 * Fixtures shared by the unit tests: catalog products go through the real
 * zod schema (so defaults match production), events are normalized
 * `ProfileEvent`s as the edge hands them to the actor, and change records go
 * through the `changes` schemas the consumer validates with.
 */
import { type Product, product } from "../../src/model/catalog";
import { type ChangeRecord, eventFact, profileFact, sessionFact } from "../../src/model/changes";
import type { ProfileEvent } from "../../src/model/messages";
import type { ProfileMemory, ProfileState } from "../../src/model/profile";

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** A fixed, arbitrary wall clock: tests never read the real time. */
export const T0 = Date.UTC(2026, 2, 1, 9, 0, 0);

export function catalogProduct(fields: { id: string } & Record<string, unknown>): Product {
  return product.parse({ title: `Product ${fields.id}`, url: `https://shop.example/p/${fields.id}`, ...fields });
}

let sequence = 0;

export function profileEvent(fields: Partial<ProfileEvent> = {}): ProfileEvent {
  sequence += 1;
  return {
    messageId: `m-${sequence}`,
    type: "track",
    name: null,
    userId: "u-1",
    anonymousId: null,
    previousId: null,
    groupId: null,
    timestamp: T0,
    receivedAt: T0,
    properties: {},
    traits: {},
    context: {},
    ...fields,
  };
}

/** Narrows away `undefined` (noUncheckedIndexedAccess), failing the test loudly instead of with a `!`. */
export function defined<T>(value: T | undefined, what = "value"): T {
  if (value === undefined) throw new Error(`expected ${what} to be defined`);
  return value;
}

export type EventChange = Extract<ChangeRecord, { kind: "event" }>;
export type ProfileChange = Extract<ChangeRecord, { kind: "profile" }>;
export type SessionChange = Extract<ChangeRecord, { kind: "session" }>;
export type AffinityChange = Extract<ChangeRecord, { kind: "affinity" }>;

/** Who a change record is about, which version it carries and when it was recorded. */
export interface ChangeHead {
  profileId?: string;
  version?: number;
  at?: number;
}

const changeHead = (h: ChangeHead) => ({ profileId: "user_id:u-1", version: 1, at: T0, ...h });

export function eventChange(fields: Partial<EventChange["event"]> = {}, h: ChangeHead = {}): EventChange {
  sequence += 1;
  const event = eventFact.parse({
    messageId: `m-${sequence}`,
    userId: "u-1",
    anonymousId: null,
    type: "track",
    name: "Product Viewed",
    timestamp: T0,
    receivedAt: T0,
    sessionNumber: 1,
    productId: null,
    revenue: 0,
    properties: {},
    traits: {},
    context: {},
    ...fields,
  });
  return { kind: "event", ...changeHead(h), event };
}

export function profileChange(fields: Partial<ProfileChange["profile"]> = {}, h: ChangeHead = {}): ProfileChange {
  const profile = profileFact.parse({
    userId: "u-1",
    anonymousIds: [],
    traits: {},
    traitsOmitted: false,
    groupIds: [],
    firstSeen: T0,
    lastSeen: T0,
    eventCount: 1,
    sessionCount: 1,
    ...fields,
  });
  return { kind: "profile", ...changeHead(h), profile };
}

export function sessionChange(fields: Partial<SessionChange["session"]> = {}, h: ChangeHead = {}): SessionChange {
  const session = sessionFact.parse({
    number: 1,
    startedAt: T0,
    endedAt: T0,
    events: 1,
    pages: 0,
    revenue: 0,
    landingPage: null,
    ...fields,
  });
  return { kind: "session", ...changeHead(h), session };
}

export function affinityChange(dimension: string, score: number, h: ChangeHead = {}): AffinityChange {
  return { kind: "affinity", ...changeHead(h), dimension, score, asOf: h.at ?? T0 };
}

export const ACTOR_KEY = "user:u-1";

/** An actor's memory before anything was stored. */
export function emptyMemory(): ProfileMemory {
  return { profile: null, affinities: new Map(), products: new Map(), sessions: [] };
}

/** A stored profile row for `ACTOR_KEY`, seen once at T0. */
export function storedProfile(fields: Partial<ProfileState> = {}): ProfileState {
  return {
    actorKey: ACTOR_KEY,
    userId: "u-1",
    anonymousIds: [],
    traits: {},
    traitTimes: {},
    groupIds: [],
    firstSeen: T0,
    lastSeen: T0,
    eventCount: 1,
    sessionCount: 1,
    version: 1,
    personalization: null,
    consentAt: null,
    ...fields,
  };
}
