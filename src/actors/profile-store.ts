/**
 * How a profile actor's state maps onto its SQLite tables: loading the hot
 * copy after a wake, writing an applied batch or merge inside the caller's
 * transaction, keeping the tables within their caps, and reading the whole
 * state a visitor hands over when it is merged into a person.
 */

import { and, desc, eq, getTableColumns, gte } from "drizzle-orm";
import type { DrizzleSqliteDODatabase } from "drizzle-orm/durable-sqlite";
import type { DecayingScore } from "../model/affinity";
import type { Membership } from "../model/experiment-attribution";
import {
  EMAIL_LINK_CLICKED,
  type LinkClick,
  linkClickOf,
  SCANNER_BURST_MS,
  scannerClicks,
  TOO_FAST,
} from "../model/link-activity";
import type { ProfileEvent } from "../model/messages";
import { type BatchChanges, CAPS, type ProfileMemory, type ProfileState } from "../model/profile";
import type { ProductHistory } from "../model/ranking";
import type { Session } from "../model/sessions";
import * as schema from "./schema";
import { IN_JSON, insertRows } from "./sql-rows";

export type ProfileDb = DrizzleSqliteDODatabase;

import type { SegmentHandover } from "./segments";

export type RecentEventRow = Omit<typeof schema.recentEvents.$inferSelect, "seq">;

/**
 * Everything a visitor's actor holds that the person's actor takes over on a
 * merge. Plain data, so it crosses the RPC boundary by structured clone.
 */
export interface Handover {
  profile: ProfileState | null;
  affinities: [string, DecayingScore][];
  products: ProductHistory[];
  sessions: Session[];
  recentEvents: RecentEventRow[];
  /** The visitor's experiment memberships, which the person joins (absent from a visitor of an older version). */
  memberships?: Membership[];
  /** The visitor's computed-trait and event-condition states (actors/segments.ts). */
  segments?: SegmentHandover;
  /** Present when a known user was handed over (an operator's merge): the visitors it had joined. */
  mergedIds?: string[];
  /** With `mergedIds`: the users an operator had merged into it. */
  mergedUserIds?: string[];
}

export function emptyMemory(): ProfileMemory {
  return { profile: null, affinities: new Map(), products: new Map(), sessions: [] };
}

/** The hot copy of a person (profile row, affinities, products, recent sessions). */
export function loadMemory(db: ProfileDb): ProfileMemory {
  const memory = emptyMemory();
  const row = db.select().from(schema.profile).get();
  if (!row) return memory;
  const { id: _id, ...profile } = row;
  memory.profile = profile;
  memory.affinities = new Map(
    db
      .select()
      .from(schema.affinities)
      .all()
      .map((a) => [a.dimension, { score: a.score, asOf: a.asOf }]),
  );
  memory.products = new Map(
    db
      .select()
      .from(schema.productHistory)
      .all()
      .map((h) => [h.productId, h]),
  );
  memory.sessions = db
    .select()
    .from(schema.sessions)
    .orderBy(desc(schema.sessions.number))
    .limit(CAPS.memorySessions)
    .all()
    .reverse();
  return memory;
}

/** Every stored session, oldest first (memory keeps only the latest few). */
export function storedSessions(db: ProfileDb): Session[] {
  return db.select().from(schema.sessions).orderBy(schema.sessions.number).all();
}

/** What this actor hands to the person it is merged into. */
export function readHandover(db: ProfileDb, memory: ProfileMemory): Handover {
  const { seq: _seq, ...columns } = getTableColumns(schema.recentEvents);
  return {
    profile: memory.profile,
    affinities: [...memory.affinities],
    products: [...memory.products.values()],
    sessions: memory.profile ? storedSessions(db) : [],
    recentEvents: memory.profile ? db.select(columns).from(schema.recentEvents).all() : [],
  };
}

/** Writes one applied batch: its events into the dedup window and ring buffer, then every changed row. */
export function persistBatch(sql: SqlStorage, events: readonly ProfileEvent[], c: BatchChanges, now: number) {
  insertRows(
    sql,
    "seen_messages",
    ["message_id", "seen_at"],
    events.map((e) => [e.messageId, now]),
  );
  insertRecentEvents(sql, events.map(recentEventRowOf));
  persistChanges(sql, c);
}

/** An event as the ring buffer of recent events keeps it. */
export function recentEventRowOf(e: ProfileEvent): RecentEventRow {
  return {
    messageId: e.messageId,
    type: e.type,
    name: e.name,
    timestamp: e.timestamp,
    receivedAt: e.receivedAt,
    body: { properties: e.properties, traits: e.traits, context: e.context },
  };
}

export function insertRecentEvents(sql: SqlStorage, events: readonly RecentEventRow[]) {
  insertRows(
    sql,
    "recent_events",
    ["message_id", "type", "name", "timestamp", "received_at", "body"],
    events.map((e) => [e.messageId, e.type, e.name, e.timestamp, e.receivedAt, JSON.stringify(e.body)]),
    // A body is at most a 32 KB message: 50 of them stay within a SQLite value's 2 MB.
    { rowsPerStatement: 50 },
  );
}

/** The profile row as drizzle's column modes store it (JSON text, booleans as 0/1). */
const UPSERT_PROFILE = `INSERT INTO profile (id, actor_key, user_id, anonymous_ids, traits, trait_times, group_ids,
  first_seen, last_seen, event_count, session_count, version, personalization, consent_at)
  VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (id) DO UPDATE SET actor_key = excluded.actor_key, user_id = excluded.user_id,
  anonymous_ids = excluded.anonymous_ids, traits = excluded.traits, trait_times = excluded.trait_times,
  group_ids = excluded.group_ids, first_seen = excluded.first_seen, last_seen = excluded.last_seen,
  event_count = excluded.event_count, session_count = excluded.session_count, version = excluded.version,
  personalization = excluded.personalization, consent_at = excluded.consent_at`;

/** Upserts the profile row, affinities, product history and sessions a batch or merge changed. */
export function persistChanges(sql: SqlStorage, c: BatchChanges) {
  const p = c.profile;
  sql.exec(
    UPSERT_PROFILE,
    p.actorKey,
    p.userId,
    JSON.stringify(p.anonymousIds),
    JSON.stringify(p.traits),
    JSON.stringify(p.traitTimes),
    JSON.stringify(p.groupIds),
    p.firstSeen,
    p.lastSeen,
    p.eventCount,
    p.sessionCount,
    p.version,
    p.personalization === null ? null : p.personalization ? 1 : 0,
    p.consentAt,
  );
  insertRows(
    sql,
    "affinities",
    ["dimension", "score", "as_of"],
    [...c.affinities].map(([dimension, s]) => [dimension, s.score, s.asOf]),
    { conflict: " ON CONFLICT (dimension) DO UPDATE SET score = excluded.score, as_of = excluded.as_of" },
  );
  for (const dimension of c.evictedDimensions) sql.exec("DELETE FROM affinities WHERE dimension = ?", dimension);
  insertRows(
    sql,
    "product_history",
    ["product_id", "last_viewed_at", "last_added_at", "last_purchased_at"],
    [...c.products.values()].map((h) => [h.productId, h.lastViewedAt, h.lastAddedAt, h.lastPurchasedAt]),
    {
      conflict: ` ON CONFLICT (product_id) DO UPDATE SET last_viewed_at = excluded.last_viewed_at,
        last_added_at = excluded.last_added_at, last_purchased_at = excluded.last_purchased_at`,
    },
  );
  for (const id of c.evictedProducts) sql.exec("DELETE FROM product_history WHERE product_id = ?", id);
  insertRows(
    sql,
    "sessions",
    ["number", "started_at", "ended_at", "events", "pages", "revenue", "landing_page"],
    [...c.sessions.values()].map((s) => [
      s.number,
      s.startedAt,
      s.endedAt,
      s.events,
      s.pages,
      s.revenue,
      s.landingPage,
    ]),
    {
      conflict: ` ON CONFLICT (number) DO UPDATE SET started_at = excluded.started_at, ended_at = excluded.ended_at,
        events = excluded.events, pages = excluded.pages, revenue = excluded.revenue, landing_page = excluded.landing_page`,
    },
  );
}

/**
 * Keeps the ring buffer (newest by event time), the session log and the
 * dedup window bounded.
 */
export function prune(sql: SqlStorage, now: number) {
  sql.exec(
    "DELETE FROM recent_events WHERE seq IN (SELECT seq FROM recent_events ORDER BY timestamp DESC, seq DESC LIMIT -1 OFFSET ?)",
    CAPS.recentEvents,
  );
  sql.exec("DELETE FROM sessions WHERE number <= (SELECT MAX(number) FROM sessions) - ?", CAPS.storedSessions);
  sql.exec("DELETE FROM seen_messages WHERE seen_at < ?", now - CAPS.dedupWindowMs);
  const excess = sql.exec<{ n: number }>("SELECT COUNT(*) - ? AS n FROM seen_messages", CAPS.dedupEntries).one().n;
  if (excess > 0) {
    const cutoff = sql
      .exec<{ at: number }>("SELECT seen_at AS at FROM seen_messages ORDER BY seen_at LIMIT 1 OFFSET ?", excess - 1)
      .toArray()[0];
    if (cutoff) sql.exec("DELETE FROM seen_messages WHERE seen_at <= ?", cutoff.at);
  }
}

/** messageIds of `ids` already in the dedup window. */
export function seenAmong(sql: SqlStorage, ids: readonly string[]): Set<string> {
  const seen = new Set<string>();
  if (ids.length === 0) return seen;
  const rows = sql.exec<{ id: string }>(
    `SELECT message_id AS id FROM seen_messages WHERE message_id IN ${IN_JSON}`,
    JSON.stringify(ids),
  );
  for (const row of rows) seen.add(row.id);
  return seen;
}

/** This person's e-mail link clicks since `since` (event time), from the recent-events ring. */
function recentLinkClicks(db: ProfileDb, since: number): LinkClick[] {
  return db
    .select({
      messageId: schema.recentEvents.messageId,
      timestamp: schema.recentEvents.timestamp,
      body: schema.recentEvents.body,
    })
    .from(schema.recentEvents)
    .where(and(eq(schema.recentEvents.name, EMAIL_LINK_CLICKED), gte(schema.recentEvents.timestamp, since)))
    .all()
    .flatMap((r) => {
      const click = linkClickOf({ ...r, name: EMAIL_LINK_CLICKED, properties: r.body.properties });
      return click ? [click] : [];
    });
}

/**
 * Flags the link clicks among `events` (already deduplicated) that came too
 * fast to be a reader's (`scannerClicks`): recorded as a bot's, with
 * `botReason`, so they move no affinity or popularity. Earlier clicks are
 * read from the stored ring, so the rule holds across evictions. A flagged
 * click takes a messageId of its own, so it never stands in for the reader's
 * later click of the same link; one flagged already is a repeat.
 */
export function markScannerClicks(
  db: ProfileDb,
  sql: SqlStorage,
  events: readonly ProfileEvent[],
): { fresh: ProfileEvent[]; repeated: string[] } {
  const incoming = events.flatMap((e) => {
    const click = e.context.bot === true ? null : linkClickOf(e);
    return click ? [click] : [];
  });
  if (incoming.length === 0) return { fresh: [...events], repeated: [] };
  const since = Math.min(...incoming.map((c) => c.at)) - SCANNER_BURST_MS;
  const flagged = scannerClicks(recentLinkClicks(db, since), incoming);
  if (flagged.size === 0) return { fresh: [...events], repeated: [] };
  const renamed = events.map((e) =>
    flagged.has(e.messageId)
      ? { ...e, messageId: `${e.messageId}:${TOO_FAST}`, context: { ...e.context, bot: true, botReason: TOO_FAST } }
      : e,
  );
  const seen = seenAmong(
    sql,
    renamed.filter((e) => e.messageId.endsWith(`:${TOO_FAST}`)).map((e) => e.messageId),
  );
  return {
    fresh: renamed.filter((e) => !seen.has(e.messageId)),
    repeated: [...seen].map((id) => id.slice(0, -`:${TOO_FAST}`.length)),
  };
}
