/**
 * ProfileActor: one SQLite-backed Durable Object per person (DESIGN §3).
 *
 * Storage is the truth; `memory` is a write-through copy of what reads need
 * (profile row, affinity vector, product history, recent sessions), rebuilt
 * from storage after eviction. Each ingested batch is one synchronous storage
 * transaction. The edge talks to it through a few coarse RPC methods.
 */
import { DurableObject } from "cloudflare:workers";
import { desc, eq, inArray, lt, lte, sql } from "drizzle-orm";
import { type DrizzleSqliteDODatabase, drizzle } from "drizzle-orm/durable-sqlite";
import { migrate } from "drizzle-orm/durable-sqlite/migrator";
import type { Env } from "../env";
import { rankedAffinities } from "../model/affinity";
import { changeRecordsOf, retryDelayMs } from "../model/changes";
import type { ProfileEvent } from "../model/messages";
import { applyEvents, type BatchChanges, CAPS, commitToMemory, type ProfileMemory } from "../model/profile";
import { emailDirectoryName, publicProfileId } from "../model/profile-id";
import type { PersonalSignals } from "../model/ranking";
import { isActive, type Session } from "../model/sessions";
import { readSettings, type Settings } from "../model/settings";
import type { EventView, ProfileView, SessionView } from "../model/views";
import { type ProfileActorApi, profileActor } from "./client";
import migrations from "./migrations/migrations.js";
import { appendToOutbox, confirmOutbox, type FlushResult, flushOutbox, type OutboxDepth, outboxDepth } from "./outbox";
import * as schema from "./schema";

export interface IngestResult {
  applied: number;
  /** messageIds already applied before (or repeated within the batch): acknowledged, not re-applied. */
  duplicateIds: string[];
}

export interface PersonalizationInput {
  known: boolean;
  /** The person's public id (`user_id:42`), also when they were looked up by e-mail. */
  profileId: string | null;
  traits: Record<string, unknown>;
  signals: PersonalSignals;
}

/** The newest bundled migration, as drizzle records it in `__drizzle_migrations.created_at`. */
const LATEST_MIGRATION = Math.max(...migrations.journal.entries.map((e) => e.when));

/** Bound parameters per statement in Durable Object SQLite. */
const MAX_PARAMS = 100;

function chunks<T>(items: readonly T[], perRow: number): T[][] {
  const size = Math.max(1, Math.floor(MAX_PARAMS / perRow));
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function duplicatesOf(all: readonly ProfileEvent[], fresh: readonly ProfileEvent[]): string[] {
  const kept = new Set(fresh);
  return all.filter((e) => !kept.has(e)).map((e) => e.messageId);
}

/**
 * Pruning runs once per this many events rather than on every batch: the
 * caps then hold within this margin (and exactly after any batch at least
 * this large), and a small browser batch skips five statements.
 */
const PRUNE_EVERY_EVENTS = 50;

function crossesMultiple(before: number, after: number, step: number): boolean {
  return Math.floor(before / step) !== Math.floor(after / step);
}

const iso = (ms: number) => new Date(ms).toISOString();

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

export class ProfileActor extends DurableObject<Env> {
  private readonly db: DrizzleSqliteDODatabase;
  private readonly settings: Settings;
  private readonly memory: ProfileMemory = { profile: null, affinities: new Map(), products: new Map(), sessions: [] };
  private initError: unknown = null;
  private migrated = false;
  /** For an identifier-directory entry: the actor key of the person it names. */
  private pointsTo: string | null = null;
  /** When the outbox alarm is set for (mirrors storage, so ingest need not read it). */
  private alarmAt: number | null = null;
  /** Consecutive failed flushes, and the earliest time to try again: new events do not cut the backoff short. */
  private flushFailures = 0;
  private retryAt = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.settings = readSettings(env);
    // No relational-query schema: it would be rebuilt in every actor and is not used.
    this.db = drizzle(ctx.storage);
    ctx.blockConcurrencyWhile(async () => {
      try {
        await this.initialize();
      } catch (err) {
        // Rethrown from the next call (which retries) rather than wedging the input gate.
        this.initError = err;
      }
    });
  }

  /**
   * Migrates and loads a profile that has storage. A lookup of someone never
   * seen creates no tables, so probing unknown ids leaves nothing behind.
   */
  private async initialize() {
    const hasSchema = this.ctx.storage.sql
      .exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '__drizzle_migrations'")
      .toArray().length;
    if (!hasSchema) return;
    // A waking actor whose schema is current skips the migrator's write transaction.
    if (this.appliedMigration() === LATEST_MIGRATION) this.migrated = true;
    else await this.migrateOnce();
    this.loadMemory();
    this.alarmAt = await this.ctx.storage.getAlarm();
    // Records left without an alarm (a crash between commit and setAlarm) are picked up on wake.
    if (this.alarmAt === null && outboxDepth(this.db).pending > 0) await this.armFlush(Date.now());
  }

  /** Sets the flush alarm unless one is already due sooner. */
  private async armFlush(at: number) {
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    await this.ctx.storage.setAlarm(at);
  }

  /** The `when` of the newest migration applied here (drizzle's own bookkeeping). */
  private appliedMigration(): number | null {
    const row = this.ctx.storage.sql
      .exec<{ at: number }>("SELECT MAX(created_at) AS at FROM __drizzle_migrations")
      .toArray()[0];
    return row?.at == null ? null : Number(row.at);
  }

  private async migrateOnce() {
    if (this.migrated) return;
    await migrate(this.db, migrations);
    this.migrated = true;
  }

  private async ready() {
    if (!this.initError) return;
    this.initError = null;
    try {
      await this.ctx.blockConcurrencyWhile(() => this.initialize());
    } catch (err) {
      this.initError = err;
      throw err;
    }
  }

  private loadMemory() {
    this.pointsTo = this.db.select().from(schema.pointer).where(eq(schema.pointer.id, 1)).get()?.target ?? null;
    const row = this.db.select().from(schema.profile).where(eq(schema.profile.id, 1)).get();
    if (!row) return;
    const { id: _id, ...profile } = row;
    this.memory.profile = profile;
    this.memory.affinities = new Map(
      this.db
        .select()
        .from(schema.affinities)
        .all()
        .map((a) => [a.dimension, { score: a.score, asOf: a.asOf }]),
    );
    this.memory.products = new Map(
      this.db
        .select()
        .from(schema.productHistory)
        .all()
        .map((h) => [h.productId, h]),
    );
    this.memory.sessions = this.db
      .select()
      .from(schema.sessions)
      .orderBy(desc(schema.sessions.number))
      .limit(CAPS.memorySessions)
      .all()
      .reverse();
  }

  /**
   * Applies a batch of this person's events in one storage transaction.
   * Events whose messageId was already applied are counted, not re-applied.
   */
  async ingest(actorKey: string, events: ProfileEvent[]): Promise<IngestResult> {
    await this.ready();
    // The first write creates the schema, behind the input gate like the constructor's migration.
    if (!this.migrated) await this.ctx.blockConcurrencyWhile(() => this.migrateOnce());
    const now = Date.now();
    const fresh = this.dropDuplicates(events);
    const duplicateIds = fresh.length === events.length ? [] : duplicatesOf(events, fresh);
    if (fresh.length === 0) return { applied: 0, duplicateIds };
    const emailBefore = this.memory.profile?.traits.email;
    const changes = applyEvents(this.memory, actorKey, fresh, this.settings, now);
    const records = changeRecordsOf(publicProfileId(actorKey), fresh, changes, now);
    const pruneDue = crossesMultiple(
      this.memory.profile?.eventCount ?? 0,
      changes.profile.eventCount,
      PRUNE_EVERY_EVENTS,
    );
    this.db.transaction((tx) => {
      this.persist(tx, fresh, changes, now, pruneDue);
      appendToOutbox(tx, records, now);
    });
    commitToMemory(this.memory, changes);
    await this.armFlush(Math.max(now + this.settings.sinkFlushMs, this.retryAt));
    await this.updateDirectory(actorKey, emailBefore, changes.profile.traits.email);
    return { applied: fresh.length, duplicateIds };
  }

  /** Removes events already applied, and repeats within the batch itself. */
  private dropDuplicates(events: readonly ProfileEvent[]): ProfileEvent[] {
    const seen = new Set<string>();
    for (const ids of chunks(
      events.map((e) => e.messageId),
      1,
    )) {
      for (const row of this.db
        .select({ id: schema.seenMessages.messageId })
        .from(schema.seenMessages)
        .where(inArray(schema.seenMessages.messageId, ids))
        .all()) {
        seen.add(row.id);
      }
    }
    return events.filter((e) => {
      if (seen.has(e.messageId)) return false;
      seen.add(e.messageId);
      return true;
    });
  }

  private persist(
    tx: Parameters<Parameters<typeof this.db.transaction>[0]>[0],
    events: ProfileEvent[],
    c: BatchChanges,
    now: number,
    pruneDue: boolean,
  ) {
    for (const rows of chunks(events, 2)) {
      tx.insert(schema.seenMessages)
        .values(rows.map((e) => ({ messageId: e.messageId, seenAt: now })))
        .run();
    }
    for (const rows of chunks(events, 6)) {
      tx.insert(schema.recentEvents)
        .values(
          rows.map((e) => ({
            messageId: e.messageId,
            type: e.type,
            name: e.name,
            timestamp: e.timestamp,
            receivedAt: e.receivedAt,
            body: { properties: e.properties, traits: e.traits, context: e.context },
          })),
        )
        .run();
    }
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
    if (pruneDue) this.prune(tx, now);
  }

  /** Keeps the ring buffer, the session log and the dedup window bounded. */
  private prune(tx: Parameters<Parameters<typeof this.db.transaction>[0]>[0], now: number) {
    tx.run(sql`DELETE FROM recent_events WHERE seq <= (SELECT MAX(seq) FROM recent_events) - ${CAPS.recentEvents}`);
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

  /** The profile document, or null when this person has never been seen. Storage-free. */
  async readProfile(now = Date.now()): Promise<ProfileView | null> {
    await this.ready();
    const forward = this.forward();
    if (forward) return forward.readProfile(now);
    const p = this.memory.profile;
    if (!p) return null;
    const sessions = this.memory.sessions;
    const last = sessions.at(-1);
    const current = last && isActive(last, now, this.settings.sessionTimeoutMs) ? last : null;
    return {
      id: publicProfileId(p.actorKey),
      userId: p.userId,
      anonymousIds: p.anonymousIds,
      traits: p.traits,
      firstSeen: iso(p.firstSeen),
      lastSeen: iso(p.lastSeen),
      counts: { events: p.eventCount, sessions: p.sessionCount },
      affinities: rankedAffinities(this.memory.affinities, now, this.settings.halfLifeMs, 50),
      session: {
        current: current ? sessionView(current) : null,
        recent: sessions
          .filter((s) => s !== current)
          .reverse()
          .map(sessionView),
      },
      version: p.version,
    };
  }

  /**
   * The outbox alarm: sends due change records through the Queue. Alarms
   * are at-least-once, so a run with nothing due does nothing; a failed send
   * keeps the records and retries with jittered backoff; the alarm is
   * re-armed only while records remain (unsent, or sent and unconfirmed).
   */
  override async alarm(): Promise<void> {
    await this.ready();
    this.alarmAt = null;
    const actor = this.memory.profile?.actorKey;
    if (!actor) return;
    let result: FlushResult;
    try {
      result = await flushOutbox(this.db, this.env.SINK_QUEUE, actor, this.settings.sinkRedeliverMs);
      this.flushFailures = 0;
      this.retryAt = 0;
    } catch (err) {
      this.flushFailures += 1;
      const delay = retryDelayMs(this.flushFailures);
      console.error(
        JSON.stringify({
          msg: "outbox flush failed",
          actor,
          failures: this.flushFailures,
          retryInMs: delay,
          error: String(err),
        }),
      );
      this.retryAt = Date.now() + delay;
      await this.armFlush(this.retryAt);
      return;
    }
    if (result.nextAt !== null) await this.armFlush(result.nextAt);
  }

  /** The consumer applied these outbox runs (`[firstSeq, lastSeq]` each): their rows can go. */
  async confirmDelivered(ranges: [number, number][]): Promise<number> {
    await this.ready();
    if (!this.migrated) return 0;
    const deleted = confirmOutbox(this.db, ranges);
    // Nothing left to send or resend: the redelivery alarm would only wake this actor for nothing.
    if (this.alarmAt !== null && outboxDepth(this.db).pending === 0) {
      this.alarmAt = null;
      await this.ctx.storage.deleteAlarm();
    }
    return deleted;
  }

  /** The person this directory entry names (one hop), or null for an actor that is a person. */
  private forward(): ProfileActorApi | null {
    return this.pointsTo ? profileActor(this.env, this.pointsTo) : null;
  }

  /** Makes this actor a directory entry for `target` (the newest claim of an identifier wins). */
  async pointTo(target: string): Promise<void> {
    await this.ready();
    if (!this.migrated) await this.ctx.blockConcurrencyWhile(() => this.migrateOnce());
    if (this.pointsTo === target) return;
    this.db
      .insert(schema.pointer)
      .values({ id: 1, target, at: Date.now() })
      .onConflictDoUpdate({ target: schema.pointer.id, set: { target, at: Date.now() } })
      .run();
    this.pointsTo = target;
  }

  /** Points the e-mail directory at this person when a batch set a new address. */
  private async updateDirectory(actorKey: string, before: unknown, after: unknown) {
    if (typeof after !== "string" || !after.includes("@") || after === before) return;
    try {
      await profileActor(this.env, await emailDirectoryName(after)).pointTo(actorKey);
    } catch (err) {
      // Tried again on the next identify that carries the address.
      console.error(JSON.stringify({ msg: "e-mail directory update failed", actor: actorKey, error: String(err) }));
    }
  }

  /** Pending change records, for operators and tests. */
  async outboxStatus(): Promise<OutboxDepth & { alarmAt: number | null }> {
    await this.ready();
    const forward = this.forward();
    if (forward) return forward.outboxStatus();
    if (!this.migrated) return { pending: 0, oldestAt: null, unconfirmed: 0, alarmAt: null };
    return { ...outboxDepth(this.db), alarmAt: this.alarmAt };
  }

  /** The newest `limit` events, newest first. */
  async readEvents(limit: number): Promise<EventView[] | null> {
    await this.ready();
    const forward = this.forward();
    if (forward) return forward.readEvents(limit);
    if (!this.memory.profile) return null;
    return this.db
      .select()
      .from(schema.recentEvents)
      .orderBy(desc(schema.recentEvents.seq))
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

  /** What the recommender needs, in one call, from memory. */
  async personalization(now = Date.now()): Promise<PersonalizationInput> {
    await this.ready();
    const forward = this.forward();
    if (forward) return forward.personalization(now);
    return {
      known: this.memory.profile !== null,
      profileId: this.memory.profile ? publicProfileId(this.memory.profile.actorKey) : null,
      traits: this.memory.profile?.traits ?? {},
      signals: {
        affinities: rankedAffinities(this.memory.affinities, now, this.settings.halfLifeMs, 50),
        products: [...this.memory.products.values()],
      },
    };
  }
}
