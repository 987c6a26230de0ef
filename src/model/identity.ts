/**
 * Identity resolution (DESIGN §3): which anonymous visitors a batch links to
 * its known user, and how a visitor's state joins the person's when it does.
 *
 * Any event carrying both `userId` and `anonymousId` links the two, as does
 * `alias` (`previousId` → `userId`), as in Segment's identity graph. The
 * merge itself is pure: traits keep the newer value per key, affinities are
 * summed on one decay clock, product history keeps the latest times, and
 * visits that overlap (the anonymous pages just before the sign-in) become one
 * session.
 */
import { addContribution, type DecayingScore, weakestBeyondCap } from "./affinity";
import type { ProfileEvent } from "./messages";
import {
  addBounded,
  type BatchChanges,
  CAPS,
  emptyProfile,
  mergeTraits,
  oldestProducts,
  type ProfileState,
} from "./profile";
import type { ProductHistory } from "./ranking";
import type { Session } from "./sessions";
import type { Settings } from "./settings";

/** Segment's identity resolution caps the merges into one profile at 100; so do we. */
export const MAX_MERGES = 100;

export interface IdentityClaim {
  /** The id the batch links to its user: an anonymousId, or an alias's previousId. */
  id: string;
  /** The first message that made the claim, for the response. */
  messageId: string;
  /** `alias` names an id that might itself be a known user; an event's anonymousId never is. */
  via: "event" | "alias";
}

/**
 * The ids a user's batch links to it, once each, in message order. `userIds`
 * are the person's own: their user id, and the users an operator merged into
 * them (whose events their actors forward here).
 */
export function identityClaims(
  events: readonly ProfileEvent[],
  userIds: string | ReadonlySet<string>,
): IdentityClaim[] {
  const own = typeof userIds === "string" ? new Set([userIds]) : userIds;
  const claims = new Map<string, IdentityClaim>();
  for (const e of events) {
    if (e.userId === null || !own.has(e.userId)) continue;
    if (e.type === "alias" && e.previousId && !own.has(e.previousId) && !claims.has(e.previousId)) {
      claims.set(e.previousId, { id: e.previousId, messageId: e.messageId, via: "alias" });
    }
    if (e.anonymousId && !claims.has(e.anonymousId)) {
      claims.set(e.anonymousId, { id: e.anonymousId, messageId: e.messageId, via: "event" });
    }
  }
  return [...claims.values()];
}

/** What a profile actor holds about a person, as one merge side sees it. */
export interface PersonState {
  profile: ProfileState | null;
  affinities: ReadonlyMap<string, DecayingScore>;
  products: ReadonlyMap<string, ProductHistory>;
  /** Every stored session, oldest first. */
  sessions: readonly Session[];
}

export interface MergeChanges extends BatchChanges {
  /** The whole renumbered session list, oldest first: it replaces the stored one. */
  sessionList: Session[];
}

/**
 * Joins visitor `from` into person `into` (actor `intoKey`). The result
 * replaces `into`'s profile row and session list and upserts the affinities
 * and products it names, like an ingested batch.
 */
export function mergePeople(
  intoKey: string,
  into: PersonState,
  from: PersonState,
  settings: Pick<Settings, "halfLifeMs" | "sessionTimeoutMs">,
  now: number,
  /** `withTraits: false` joins the visitor's activity but keeps the person's traits as they are. */
  options: { withTraits: boolean } = { withTraits: true },
): MergeChanges {
  const visitor = from.profile;
  const base = into.profile ?? {
    ...emptyProfile(intoKey, visitor?.firstSeen ?? now),
    userId: intoKey.startsWith("user:") ? intoKey.slice(5) : null,
  };
  const p: ProfileState = structuredClone(base);
  if (visitor) {
    if (options.withTraits) mergeTraits(p, visitor.traits, visitor.traitTimes);
    for (const id of visitor.anonymousIds) p.anonymousIds = addBounded(p.anonymousIds, id, CAPS.anonymousIds);
    for (const id of visitor.groupIds) p.groupIds = addBounded(p.groupIds, id, CAPS.groups);
    p.firstSeen = Math.min(p.firstSeen, visitor.firstSeen);
    p.lastSeen = Math.max(p.lastSeen, visitor.lastSeen);
    p.eventCount += visitor.eventCount;
    if (visitor.consentAt !== null && (p.consentAt === null || visitor.consentAt > p.consentAt)) {
      p.personalization = visitor.personalization;
      p.consentAt = visitor.consentAt;
    }
  }

  const { sessions: joined, coalesced } = coalesceSessions(
    [...into.sessions, ...from.sessions],
    settings.sessionTimeoutMs,
  );
  p.sessionCount = Math.max(joined.length, p.sessionCount + (visitor?.sessionCount ?? 0) - coalesced);
  const kept = joined.slice(-CAPS.storedSessions);
  const sessionList = kept.map((s, i) => ({ ...s, number: p.sessionCount - (kept.length - 1 - i) }));
  p.version += 1;

  const affinities = new Map<string, DecayingScore>();
  for (const [d, s] of from.affinities) {
    affinities.set(d, addContribution(into.affinities.get(d), s.score, s.asOf, settings.halfLifeMs));
  }
  const evictedDimensions = weakestBeyondCap(
    new Map([...into.affinities, ...affinities]),
    CAPS.affinities,
    now,
    settings.halfLifeMs,
  );
  for (const d of evictedDimensions) affinities.delete(d);

  const products = new Map<string, ProductHistory>();
  for (const [id, h] of from.products) products.set(id, latestOf(into.products.get(id), h));
  const evictedProducts = oldestProducts(new Map([...into.products, ...products]), CAPS.products);
  for (const id of evictedProducts) products.delete(id);

  return {
    profile: p,
    affinities,
    evictedDimensions,
    products,
    evictedProducts,
    sessions: new Map(sessionList.map((s) => [s.number, s])),
    sessionList,
    eventFacts: new Map(),
    // The visitor's interactions already counted for popularity when they happened.
    popular: [],
  };
}

const latest = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.max(a, b));

function latestOf(a: ProductHistory | undefined, b: ProductHistory): ProductHistory {
  if (!a) return { ...b };
  return {
    productId: b.productId,
    lastViewedAt: latest(a.lastViewedAt, b.lastViewedAt),
    lastAddedAt: latest(a.lastAddedAt, b.lastAddedAt),
    lastPurchasedAt: latest(a.lastPurchasedAt, b.lastPurchasedAt),
  };
}

/**
 * Orders two people's visits by start and joins those less than a session
 * timeout apart; `coalesced` counts the joins. Numbers are assigned later.
 */
export function coalesceSessions(
  all: readonly Session[],
  timeoutMs: number,
): { sessions: Session[]; coalesced: number } {
  const ordered = [...all].sort((a, b) => a.startedAt - b.startedAt || a.endedAt - b.endedAt);
  const out: Session[] = [];
  let coalesced = 0;
  for (const s of ordered) {
    const last = out.at(-1);
    if (last && s.startedAt <= last.endedAt + timeoutMs) {
      out[out.length - 1] = {
        ...last,
        endedAt: Math.max(last.endedAt, s.endedAt),
        events: last.events + s.events,
        pages: last.pages + s.pages,
        revenue: Math.round((last.revenue + s.revenue) * 100) / 100,
        landingPage: last.landingPage ?? s.landingPage,
      };
      coalesced += 1;
    } else {
      out.push({ ...s });
    }
  }
  return { sessions: out, coalesced };
}
