/**
 * What a profile actor answers reads with: the profile document and event
 * timeline (DESIGN §2.2), and the full export of what it holds (GDPR
 * access). Built from the actor's memory and tables; the actor only routes.
 */

import { desc, getTableColumns } from "drizzle-orm";
import { rankedAffinities } from "../model/affinity";
import type { Membership } from "../model/experiment-attribution";
import type { ProfileMemory, ProfileState } from "../model/profile";
import { publicProfileId } from "../model/profile-id";
import type { ProductHistory } from "../model/ranking";
import { isActive, type Session } from "../model/sessions";
import type { Settings } from "../model/settings";
import type { EventView, ProfileView, SessionView } from "../model/views";
import { type OutboxDepth, outboxDepth } from "./outbox";
import { type ProfileDb, type RecentEventRow, storedSessions } from "./profile-store";
import * as schema from "./schema";

const iso = (ms: number) => new Date(ms).toISOString();
const DAY_MS = 24 * 3600 * 1000;

function sessionView(s: Session): SessionView {
  return {
    number: s.number,
    startedAt: iso(s.startedAt),
    endedAt: iso(s.endedAt),
    durationSeconds: Math.round((s.endedAt - s.startedAt) / 1000),
    events: s.events,
    pages: s.pages,
    revenue: s.revenue,
    landingPage: s.landingPage,
  };
}

/** The profile document from memory alone, or null for someone never seen. */
export function profileViewOf(
  memory: ProfileMemory,
  settings: Settings,
  now: number,
): Omit<ProfileView, "audiences" | "computedTraits" | "experiments"> | null {
  const p = memory.profile;
  if (!p) return null;
  const sessions = memory.sessions;
  const last = sessions.at(-1);
  const current = last && isActive(last, now, settings.sessionTimeoutMs) ? last : null;
  return {
    id: publicProfileId(p.actorKey),
    userId: p.userId,
    anonymousIds: p.anonymousIds,
    traits: p.traits,
    firstSeen: iso(p.firstSeen),
    lastSeen: iso(p.lastSeen),
    counts: { events: p.eventCount, sessions: p.sessionCount },
    affinities: rankedAffinities(memory.affinities, now, settings.halfLifeMs, 50),
    session: {
      current: current ? sessionView(current) : null,
      recent: sessions
        .filter((s) => s !== current)
        .reverse()
        .map(sessionView),
    },
    consent: { personalization: p.personalization },
    affinityHalfLifeDays: settings.halfLifeMs / DAY_MS,
    version: p.version,
  };
}

/** An experiment the person was exposed to, as the profile shows it. */
export function experimentAssignment(m: Membership) {
  const at = (t: number | null) => (t === null ? null : iso(t));
  return {
    id: m.experimentId,
    variant: m.variant,
    exposedAt: iso(m.exposedAt),
    openedAt: at(m.openedAt),
    clickedAt: at(m.clickedAt),
    convertedAt: at(m.convertedAt),
  };
}

/** The newest `limit` events of the ring buffer, newest first (by event time). */
export function eventViewsOf(db: ProfileDb, limit: number): EventView[] {
  return db
    .select()
    .from(schema.recentEvents)
    .orderBy(desc(schema.recentEvents.timestamp), desc(schema.recentEvents.seq))
    .limit(limit)
    .all()
    .map((e) => ({
      messageId: e.messageId,
      type: e.type,
      name: e.name,
      timestamp: iso(e.timestamp),
      receivedAt: iso(e.receivedAt),
      ...e.body,
    }));
}

/** Everything one actor holds about a person, for `GET /v1/profiles/:id/export`. */
export interface ActorExport {
  profile: ProfileState | null;
  sessions: Session[];
  recentEvents: RecentEventRow[];
  affinities: { dimension: string; score: number; asOf: number }[];
  products: ProductHistory[];
  identityLinks: { id: string; status: string; at: number }[];
  outbox: OutboxDepth;
  suppressed: { at: number; dropped: number } | null;
  /** The experiments the person was exposed to, and what they did after. */
  experiments?: Membership[];
  /** The audiences the person is in, since when (epoch ms), and the state of their computed traits and event conditions. */
  audiences?: { key: string; enteredAt: number }[];
  segmentState?: [string, string][];
}

/** Every table of a migrated actor, or null when it holds nothing (no profile, no suppression). */
export function exportOf(db: ProfileDb, sql: SqlStorage, memory: ProfileMemory): ActorExport | null {
  const suppression = db.select().from(schema.suppression).get();
  if (!memory.profile && !suppression) return null;
  const { seq: _seq, ...recent } = getTableColumns(schema.recentEvents);
  return {
    profile: memory.profile,
    sessions: storedSessions(db),
    recentEvents: db.select(recent).from(schema.recentEvents).orderBy(schema.recentEvents.timestamp).all(),
    affinities: db.select().from(schema.affinities).all(),
    products: [...memory.products.values()],
    identityLinks: db
      .select({ id: schema.identityLinks.id, status: schema.identityLinks.status, at: schema.identityLinks.at })
      .from(schema.identityLinks)
      .all(),
    outbox: outboxDepth(sql),
    suppressed: suppression ? { at: suppression.at, dropped: suppression.dropped } : null,
  };
}
