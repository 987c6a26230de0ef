/**
 * How a batch of events changes one person's state: identity, traits,
 * counters, sessions, decayed affinities and product history. Pure: the
 * actor feeds it its in-memory state and persists what it returns, so the
 * same rules are unit-tested without a runtime.
 */
import { addContribution, type DecayingScore, weakestBeyondCap } from "./affinity";
import { dimensionsOf, interactionsOf, revenueOf } from "./commerce";
import { personalizationConsent } from "./consent";
import type { ProfileEvent } from "./messages";
import type { ProductHistory } from "./ranking";
import { applyActivity, type Session } from "./sessions";
import type { Settings } from "./settings";
import { pageUrlOf } from "./validate";

/** Bounds that keep one actor's storage and memory finite (DESIGN §3). */
export const CAPS = {
  affinities: 200,
  products: 200,
  recentEvents: 200,
  /** Sessions kept in memory for reads; storage keeps `storedSessions`. */
  memorySessions: 10,
  storedSessions: 100,
  anonymousIds: 50,
  traits: 200,
  groups: 50,
  /** messageIds remembered for dedup: at least 24 h, bounded in count. */
  dedupWindowMs: 48 * 3_600_000,
  dedupEntries: 50_000,
} as const;

export interface ProfileState {
  actorKey: string;
  userId: string | null;
  anonymousIds: string[];
  traits: Record<string, unknown>;
  traitTimes: Record<string, number>;
  groupIds: string[];
  firstSeen: number;
  lastSeen: number;
  eventCount: number;
  sessionCount: number;
  version: number;
  /** The newest consent to personalization given or refused (null: never said), and when. */
  personalization: boolean | null;
  consentAt: number | null;
}

export interface ProfileMemory {
  profile: ProfileState | null;
  affinities: Map<string, DecayingScore>;
  products: Map<string, ProductHistory>;
  /** Most recent sessions, oldest first; the last is the current one. */
  sessions: Session[];
}

export interface BatchChanges {
  profile: ProfileState;
  affinities: Map<string, DecayingScore>;
  evictedDimensions: string[];
  products: Map<string, ProductHistory>;
  evictedProducts: string[];
  /** Sessions opened or extended, by number. */
  sessions: Map<number, Session>;
  /** Per applied event (by messageId), what was read from it here, so the change records need not read it again. */
  eventFacts: Map<string, EventFacts>;
  /** The interactions that add to their product's popularity (see `countsForPopularity`). */
  popular: PopularInteraction[];
}

/** An interaction that adds to a product's popularity (the trending list). */
export interface PopularInteraction {
  productId: string;
  kind: "viewed" | "added" | "purchased" | "email_click";
  at: number;
}

/** The product-history field an interaction kind updates. */
const HISTORY_FIELD = {
  viewed: "lastViewedAt",
  email_click: "lastViewedAt",
  added: "lastAddedAt",
  purchased: "lastPurchasedAt",
} as const satisfies Record<PopularInteraction["kind"], keyof ProductHistory>;

/**
 * Popularity counts people, not requests: a person's view (or click, add,
 * purchase) of a product adds to its popularity when they had not done that
 * with it within the window, so one person reloading a page — or replaying
 * a link — a hundred times lifts it once. `before` is when they last did.
 */
export function countsForPopularity(before: number | null, at: number, windowMs: number): boolean {
  return before === null || at - before >= windowMs;
}

export interface EventFacts {
  /** The session the event was counted in; null for a late event counted on the profile only. */
  sessionNumber: number | null;
  /** The first product the event is about. */
  productId: string | null;
  revenue: number;
}

export function emptyProfile(actorKey: string, at: number): ProfileState {
  return {
    actorKey,
    userId: null,
    anonymousIds: [],
    traits: {},
    traitTimes: {},
    groupIds: [],
    firstSeen: at,
    lastSeen: at,
    eventCount: 0,
    sessionCount: 0,
    version: 0,
    personalization: null,
    consentAt: null,
  };
}

export function addBounded(list: string[], value: string | null, cap: number): string[] {
  if (!value || list.includes(value)) return list;
  return [...list, value].slice(-cap);
}

function pageUrl(e: ProfileEvent): string | null {
  return pageUrlOf(e.context, e.properties)?.slice(0, 2048) ?? null;
}

/**
 * Applies already-deduplicated events (any order) to `memory` without
 * mutating it, returning every row that changed.
 */
export function applyEvents(
  memory: ProfileMemory,
  actorKey: string,
  events: readonly ProfileEvent[],
  settings: Settings,
  now: number,
): BatchChanges {
  const ordered = [...events].sort((a, b) => a.timestamp - b.timestamp);
  const first = ordered[0]?.timestamp ?? now;
  const p: ProfileState = memory.profile ? structuredClone(memory.profile) : emptyProfile(actorKey, first);
  const affinities = new Map<string, DecayingScore>();
  const products = new Map<string, ProductHistory>();
  const sessions = new Map<number, Session>();
  const eventFacts = new Map<string, EventFacts>();
  const popular: PopularInteraction[] = [];
  let current = memory.sessions.at(-1) ?? null;

  for (const e of ordered) {
    p.eventCount += 1;
    p.firstSeen = Math.min(p.firstSeen, e.timestamp);
    p.lastSeen = Math.max(p.lastSeen, e.timestamp);
    // A person's user id is the one they were first known by: a user merged into them later sends under theirs.
    if (e.userId && p.userId === null) p.userId = e.userId;
    p.anonymousIds = addBounded(p.anonymousIds, e.anonymousId, CAPS.anonymousIds);
    if (e.type === "group") p.groupIds = addBounded(p.groupIds, e.groupId, CAPS.groups);
    if (e.type === "identify") mergeTraits(p, e.traits, e.timestamp);
    const said = personalizationConsent(e.context, settings.personalizationCategories);
    if (said !== null && (p.consentAt === null || e.timestamp >= p.consentAt)) {
      p.personalization = said;
      p.consentAt = e.timestamp;
    }
    const personalize = (said ?? p.personalization) !== false;

    const revenue = revenueOf(e);
    const interactions = interactionsOf(e);
    const update = applyActivity(
      current,
      { at: e.timestamp, isPage: e.type === "page" || e.type === "screen", url: pageUrl(e), revenue },
      settings.sessionTimeoutMs,
    );
    if (update.kind !== "late") {
      current = update.session;
      sessions.set(current.number, current);
      if (update.kind === "opened") p.sessionCount = Math.max(p.sessionCount, current.number);
    }
    eventFacts.set(e.messageId, {
      sessionNumber: update.kind === "late" ? null : update.session.number,
      productId: interactions.find((i) => i.productId)?.productId ?? null,
      revenue,
    });

    // Known bots, and people who refused personalization, count as traffic but never move what they are
    // said to like, nor what everyone else is shown as popular.
    for (const i of e.context.bot === true || !personalize ? [] : interactions) {
      const weight = settings.weights[i.kind];
      for (const d of weight > 0 ? dimensionsOf(i) : []) {
        const before = affinities.get(d) ?? memory.affinities.get(d);
        affinities.set(d, addContribution(before, weight, e.timestamp, settings.halfLifeMs));
      }
      if (
        i.productId &&
        (i.kind === "viewed" || i.kind === "added" || i.kind === "purchased" || i.kind === "email_click")
      ) {
        const h = products.get(i.productId) ??
          memory.products.get(i.productId) ?? {
            productId: i.productId,
            lastViewedAt: null,
            lastAddedAt: null,
            lastPurchasedAt: null,
          };
        const field = HISTORY_FIELD[i.kind];
        if (countsForPopularity(h[field], e.timestamp, settings.popularityWindowMs)) {
          popular.push({ productId: i.productId, kind: i.kind, at: e.timestamp });
        }
        products.set(i.productId, { ...h, [field]: Math.max(h[field] ?? 0, e.timestamp) });
      }
    }
  }
  p.version += 1;

  const allScores = new Map([...memory.affinities, ...affinities]);
  const evictedDimensions = weakestBeyondCap(allScores, CAPS.affinities, now, settings.halfLifeMs);
  for (const d of evictedDimensions) affinities.delete(d);
  const allProducts = new Map([...memory.products, ...products]);
  const evictedProducts = oldestProducts(allProducts, CAPS.products);
  for (const id of evictedProducts) products.delete(id);

  return { profile: p, affinities, evictedDimensions, products, evictedProducts, sessions, eventFacts, popular };
}

/** Sets each trait unless the profile holds a newer value for it (identify order does not matter). */
export function mergeTraits(p: ProfileState, traits: Record<string, unknown>, at: number | Record<string, number>) {
  for (const [key, value] of Object.entries(traits)) {
    const valueAt = typeof at === "number" ? at : (at[key] ?? 0);
    const setAt = Object.hasOwn(p.traitTimes, key) ? (p.traitTimes[key] ?? 0) : Number.NEGATIVE_INFINITY;
    if (setAt > valueAt) continue;
    if (!Object.hasOwn(p.traits, key) && Object.keys(p.traits).length >= CAPS.traits) continue;
    p.traits[key] = value;
    p.traitTimes[key] = valueAt;
  }
}

function lastTouched(h: ProductHistory): number {
  return Math.max(h.lastViewedAt ?? 0, h.lastAddedAt ?? 0, h.lastPurchasedAt ?? 0);
}

export function oldestProducts(all: ReadonlyMap<string, ProductHistory>, cap: number): string[] {
  if (all.size <= cap) return [];
  return [...all.values()]
    .sort((a, b) => lastTouched(a) - lastTouched(b))
    .slice(0, all.size - cap)
    .map((h) => h.productId);
}

/** Applies `changes` to `memory` in place, after they were persisted. */
export function commitToMemory(memory: ProfileMemory, changes: BatchChanges): void {
  memory.profile = changes.profile;
  for (const [d, s] of changes.affinities) memory.affinities.set(d, s);
  for (const d of changes.evictedDimensions) memory.affinities.delete(d);
  for (const [id, h] of changes.products) memory.products.set(id, h);
  for (const id of changes.evictedProducts) memory.products.delete(id);
  const byNumber = new Map(memory.sessions.map((s) => [s.number, s]));
  for (const [n, s] of changes.sessions) byNumber.set(n, s);
  memory.sessions = [...byNumber.values()].sort((a, b) => a.number - b.number).slice(-CAPS.memorySessions);
}
