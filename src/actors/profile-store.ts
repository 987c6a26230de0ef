/**
 * How a profile actor's state maps onto its SQLite tables: loading the hot
 * copy after a wake, writing an applied batch or merge inside the caller's
 * transaction, keeping the tables within their caps, and reading the whole
 * state a visitor hands over when it is merged into a person.
 */
import { and, desc, eq, getTableColumns, gte, inArray, lt, lte, sql } from "drizzle-orm";
import type { DrizzleSqliteDODatabase } from "drizzle-orm/durable-sqlite";
import type { DecayingScore } from "../model/affinity";
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

export type ProfileDb = DrizzleSqliteDODatabase;
/** The handle inside `db.transaction(...)`: the same query API, committed together. */
export type ProfileTx = Parameters<Parameters<ProfileDb["transaction"]>[0]>[0];

/** Bound parameters per statement in Durable Object SQLite. */
const MAX_PARAMS = 100;

/** Splits rows so that one insert of `perRow` parameters each stays within the bound. */
export function chunks<T>(items: readonly T[], perRow: number): T[][] {
  const size = Math.max(1, Math.floor(MAX_PARAMS / perRow));
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

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
export function persistBatch(tx: ProfileTx, events: readonly ProfileEvent[], c: BatchChanges, now: number) {
  for (const rows of chunks(events, 2)) {
    tx.insert(schema.seenMessages)
      .values(rows.map((e) => ({ messageId: e.messageId, seenAt: now })))
      .run();
  }
  insertRecentEvents(
    tx,
    events.map((e) => ({
      messageId: e.messageId,
      type: e.type,
      name: e.name,
      timestamp: e.timestamp,
      receivedAt: e.receivedAt,
      body: { properties: e.properties, traits: e.traits, context: e.context },
    })),
  );
  persistChanges(tx, c);
}

export function insertRecentEvents(tx: ProfileTx, events: readonly RecentEventRow[]) {
  for (const rows of chunks(events, 6)) tx.insert(schema.recentEvents).values(rows).run();
}

/** Upserts the profile row, affinities, product history and sessions a batch or merge changed. */
export function persistChanges(tx: ProfileTx, c: BatchChanges) {
  tx.insert(schema.profile)
    .values({ id: 1, ...c.profile })
    .onConflictDoUpdate({ target: schema.profile.id, set: { ...c.profile } })
    .run();

  for (const rows of chunks([...c.affinities], 3)) {
    tx.insert(schema.affinities)
      .values(rows.map(([dimension, s]) => ({ dimension, score: s.score, asOf: s.asOf })))
      .onConflictDoUpdate({
        target: schema.affinities.dimension,
        set: { score: sql`excluded.score`, asOf: sql`excluded.as_of` },
      })
      .run();
  }
  for (const ids of chunks(c.evictedDimensions, 1)) {
    tx.delete(schema.affinities).where(inArray(schema.affinities.dimension, ids)).run();
  }
  for (const rows of chunks([...c.products.values()], 4)) {
    tx.insert(schema.productHistory)
      .values(rows)
      .onConflictDoUpdate({
        target: schema.productHistory.productId,
        set: {
          lastViewedAt: sql`excluded.last_viewed_at`,
          lastAddedAt: sql`excluded.last_added_at`,
          lastPurchasedAt: sql`excluded.last_purchased_at`,
        },
      })
      .run();
  }
  for (const ids of chunks(c.evictedProducts, 1)) {
    tx.delete(schema.productHistory).where(inArray(schema.productHistory.productId, ids)).run();
  }
  for (const rows of chunks([...c.sessions.values()], 7)) {
    tx.insert(schema.sessions)
      .values(rows)
      .onConflictDoUpdate({
        target: schema.sessions.number,
        set: {
          startedAt: sql`excluded.started_at`,
          endedAt: sql`excluded.ended_at`,
          events: sql`excluded.events`,
          pages: sql`excluded.pages`,
          revenue: sql`excluded.revenue`,
          landingPage: sql`excluded.landing_page`,
        },
      })
      .run();
  }
}

/**
 * Keeps the ring buffer (newest by event time), the session log and the
 * dedup window bounded.
 */
export function prune(tx: ProfileTx, now: number) {
  tx.run(
    sql`DELETE FROM recent_events WHERE seq IN (SELECT seq FROM recent_events ORDER BY timestamp DESC, seq DESC LIMIT -1 OFFSET ${CAPS.recentEvents})`,
  );
  tx.run(sql`DELETE FROM sessions WHERE number <= (SELECT MAX(number) FROM sessions) - ${CAPS.storedSessions}`);
  tx.delete(schema.seenMessages)
    .where(lt(schema.seenMessages.seenAt, now - CAPS.dedupWindowMs))
    .run();
  const excess = tx.get<{ n: number }>(sql`SELECT COUNT(*) - ${CAPS.dedupEntries} AS n FROM seen_messages`);
  if (excess && excess.n > 0) {
    const cutoff = tx.get<{ at: number }>(
      sql`SELECT seen_at AS at FROM seen_messages ORDER BY seen_at LIMIT 1 OFFSET ${excess.n - 1}`,
    );
    if (cutoff) tx.delete(schema.seenMessages).where(lte(schema.seenMessages.seenAt, cutoff.at)).run();
  }
}

/** messageIds of `ids` already in the dedup window. */
export function seenAmong(db: ProfileDb, ids: readonly string[]): Set<string> {
  const seen = new Set<string>();
  for (const part of chunks(ids, 1)) {
    for (const row of db
      .select({ id: schema.seenMessages.messageId })
      .from(schema.seenMessages)
      .where(inArray(schema.seenMessages.messageId, part))
      .all()) {
      seen.add(row.id);
    }
  }
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
    db,
    renamed.filter((e) => e.messageId.endsWith(`:${TOO_FAST}`)).map((e) => e.messageId),
  );
  return {
    fresh: renamed.filter((e) => !seen.has(e.messageId)),
    repeated: [...seen].map((id) => id.slice(0, -`:${TOO_FAST}`.length)),
  };
}
