/**
 * ProfileActor: one SQLite-backed Durable Object per person (DESIGN §3).
 *
 * Storage is the truth; `memory` is a write-through copy of what reads need
 * (profile row, affinity vector, product history, recent sessions), rebuilt
 * from storage after eviction. Each ingested batch is one synchronous storage
 * transaction. The edge talks to it through a few coarse RPC methods.
 *
 * The same class serves three roles by what its storage holds: a person; a
 * visitor merged into a person (a forward pointer that still flushes its own
 * outbox); and an identifier-directory entry (`email:<sha256>`) naming a person.
 */
import { DurableObject } from "cloudflare:workers";
import { desc, eq } from "drizzle-orm";
import { type DrizzleSqliteDODatabase, drizzle } from "drizzle-orm/durable-sqlite";
import { migrate } from "drizzle-orm/durable-sqlite/migrator";
import type { Env } from "../env";
import { rankedAffinities } from "../model/affinity";
import { changeRecordsOf, retryDelayMs } from "../model/changes";
import { fullBucket, type TokenBucket, take } from "../model/flood";
import { type IdentityClaim, identityClaims, MAX_MERGES, mergePeople, type PersonState } from "../model/identity";
import type { ProfileEvent } from "../model/messages";
import { applyEvents, CAPS, commitToMemory, type ProfileMemory } from "../model/profile";
import { emailDirectoryName, publicProfileId } from "../model/profile-id";
import type { PersonalSignals } from "../model/ranking";
import { isActive, type Session } from "../model/sessions";
import { readSettings, type Settings } from "../model/settings";
import type { EventView, ProfileView, SessionView } from "../model/views";
import { type ProfileActorApi, profileActor } from "./client";
import migrations from "./migrations/migrations.js";
import { appendToOutbox, confirmOutbox, type FlushResult, flushOutbox, type OutboxDepth, outboxDepth } from "./outbox";
import {
  type Handover,
  insertRecentEvents,
  loadMemory,
  persistBatch,
  persistChanges,
  prune,
  readHandover,
  seenAmong,
  storedSessions,
} from "./profile-store";
import * as schema from "./schema";

export interface IngestResult {
  applied: number;
  /** messageIds already applied before (or repeated within the batch): acknowledged, not re-applied. */
  duplicateIds: string[];
  /** Links this batch asked for and could not have (the message itself was applied). */
  refusedLinks: RefusedLink[];
  /** Set when this profile is taking events faster than its flood limit: nothing was applied; retry after this long. */
  throttledForMs?: number;
}

export interface RefusedLink {
  messageId: string;
  reason: string;
}

/** A visitor's answer when a person asks to take it over. */
export type HandoverAnswer =
  | { outcome: "merged"; handover: Handover }
  | { outcome: "refused"; reason: string }
  /** A user id never seen: nothing to take over, and nothing left behind. */
  | { outcome: "none" };

export interface PersonalizationInput {
  known: boolean;
  /** The person's public id (`user_id:42`), also when they were looked up by e-mail. */
  profileId: string | null;
  traits: Record<string, unknown>;
  signals: PersonalSignals;
}

/** The newest bundled migration, as drizzle records it in `__drizzle_migrations.created_at`. */
const LATEST_MIGRATION = Math.max(...migrations.journal.entries.map((e) => e.when));

/** Refusals remembered per person (so repeats cost no RPC); beyond this the oldest are asked again. */
const REMEMBERED_REFUSALS = 500;

const BELONGS_ELSEWHERE =
  "already merged into another known user; an anonymous visitor joins one user only — call analytics.reset() when a different person signs in on the same browser";

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

function emailOf(traits: Record<string, unknown> | undefined): string | null {
  const email = traits?.email;
  return typeof email === "string" && email.includes("@") ? email : null;
}

export class ProfileActor extends DurableObject<Env> {
  private readonly db: DrizzleSqliteDODatabase;
  private readonly settings: Settings;
  private memory: ProfileMemory = { profile: null, affinities: new Map(), products: new Map(), sessions: [] };
  private initError: unknown = null;
  private migrated = false;
  /**
   * For an identifier-directory entry, or a visitor merged into a person:
   * the actor key of the person, where reads and late events go.
   */
  private pointsTo: string | null = null;
  /** Ids linked to this person and what came of each (mirrors `identity_links`). */
  private links = new Map<string, { status: "merged" | "refused"; at: number }>();
  /** Merges under way (asked, not yet answered), counted against the cap. */
  private mergesInFlight = 0;
  /** Flood protection: the events this profile may still take right now (in memory; a flooded actor stays awake). */
  private floodBucket: TokenBucket | null = null;
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
    this.memory = loadMemory(this.db);
    this.links = new Map(
      this.db
        .select()
        .from(schema.identityLinks)
        .all()
        .map((l) => [l.id, { status: l.status, at: l.at }]),
    );
  }

  /** The first write creates the schema, behind the input gate like the constructor's migration. */
  private async ensureSchema() {
    if (!this.migrated) await this.ctx.blockConcurrencyWhile(() => this.migrateOnce());
  }

  /**
   * Applies a batch of this person's events in one storage transaction.
   * Events whose messageId was already applied are counted, not re-applied.
   * Visitors the batch links to this user are merged in first.
   */
  async ingest(actorKey: string, events: ProfileEvent[]): Promise<IngestResult> {
    await this.ready();
    await this.ensureSchema();
    if (this.pointsTo) return this.forwardIngest(this.pointsTo, events);
    const throttledForMs = this.admit(events.length);
    if (throttledForMs !== null) return { applied: 0, duplicateIds: [], refusedLinks: [], throttledForMs };
    const identity = actorKey.startsWith("user:")
      ? await this.resolveIdentity(actorKey, events)
      : { refusedLinks: [], merged: 0, emails: [] };

    const now = Date.now();
    const fresh = this.dropDuplicates(events);
    const duplicateIds = fresh.length === events.length ? [] : duplicatesOf(events, fresh);
    const emailBefore = emailOf(this.memory.profile?.traits);
    if (fresh.length > 0) {
      const changes = applyEvents(this.memory, actorKey, fresh, this.settings, now);
      if (this.links.size > 0) {
        // A visitor that belongs to someone else is not listed as this person's.
        changes.profile.anonymousIds = changes.profile.anonymousIds.filter(
          (id) => this.links.get(id)?.status !== "refused",
        );
      }
      const records = changeRecordsOf(publicProfileId(actorKey), fresh, changes, now);
      const pruneDue = crossesMultiple(
        this.memory.profile?.eventCount ?? 0,
        changes.profile.eventCount,
        PRUNE_EVERY_EVENTS,
      );
      this.db.transaction((tx) => {
        persistBatch(tx, fresh, changes, now);
        if (pruneDue) prune(tx, now);
        appendToOutbox(tx, records, now);
      });
      commitToMemory(this.memory, changes);
    }
    if (fresh.length > 0 || identity.merged > 0) {
      await this.armFlush(Math.max(now + this.settings.sinkFlushMs, this.retryAt));
    }
    const emailAfter = emailOf(this.memory.profile?.traits);
    const repoint = new Set(identity.emails);
    if (emailAfter && emailAfter !== emailBefore) repoint.add(emailAfter);
    await this.updateDirectory(actorKey, repoint);
    return { applied: fresh.length, duplicateIds, refusedLinks: identity.refusedLinks };
  }

  /** Takes `n` events from the flood bucket; returns how long to wait when it cannot. */
  private admit(n: number): number | null {
    const limits = { perSecond: this.settings.profileEventsPerSecond, burst: this.settings.profileEventBurst };
    const now = Date.now();
    const taken = take(this.floodBucket ?? fullBucket(limits, now), n, limits, now);
    this.floodBucket = taken.bucket;
    return taken.ok ? null : taken.retryAfterMs;
  }

  /**
   * A merged visitor's late events: those this actor already applied (before
   * the merge) are dropped here, the rest go to the person, one hop.
   */
  private async forwardIngest(target: string, events: ProfileEvent[]): Promise<IngestResult> {
    const fresh = this.dropDuplicates(events);
    const duplicateIds = fresh.length === events.length ? [] : duplicatesOf(events, fresh);
    if (fresh.length === 0) return { applied: 0, duplicateIds, refusedLinks: [] };
    const result = await profileActor(this.env, target).ingest(target, fresh);
    return { ...result, duplicateIds: [...duplicateIds, ...result.duplicateIds] };
  }

  /** Removes events already applied, and repeats within the batch itself. */
  private dropDuplicates(events: readonly ProfileEvent[]): ProfileEvent[] {
    const seen = seenAmong(
      this.db,
      events.map((e) => e.messageId),
    );
    return events.filter((e) => {
      if (seen.has(e.messageId)) return false;
      seen.add(e.messageId);
      return true;
    });
  }

  /**
   * Asks each visitor this batch newly links to the user (`actorKey`) to hand
   * itself over, then merges what they hand over, one transaction each. A
   * link is decided once: later events repeating it cost nothing.
   */
  private async resolveIdentity(actorKey: string, events: readonly ProfileEvent[]) {
    const claims = identityClaims(events, actorKey.slice(5)).filter((c) => !this.links.has(c.id));
    const refusedLinks: RefusedLink[] = [];
    const emails: string[] = [];
    let merged = 0;
    if (claims.length === 0) return { refusedLinks, merged, emails };

    const mergedSoFar = [...this.links.values()].filter((l) => l.status === "merged").length;
    const room = Math.max(0, MAX_MERGES - mergedSoFar - this.mergesInFlight);
    for (const claim of claims.slice(room)) {
      refusedLinks.push({
        messageId: claim.messageId,
        reason: `${claim.id} was not merged: this profile already joined ${MAX_MERGES} anonymous ids, the most one profile takes`,
      });
    }
    const asked = claims.slice(0, room);
    this.mergesInFlight += asked.length;
    let answers: HandoverAnswer[];
    try {
      answers = await Promise.all(asked.map((claim) => this.askHandover(actorKey, claim)));
    } finally {
      this.mergesInFlight -= asked.length;
    }

    // From here on synchronous: no other call interleaves with these merges.
    const now = Date.now();
    asked.forEach((claim, i) => {
      const answer = answers[i];
      if (!answer || this.links.has(claim.id) || answer.outcome === "none") return;
      if (answer.outcome === "refused") {
        refusedLinks.push({ messageId: claim.messageId, reason: `${claim.id} was not merged: ${answer.reason}` });
        this.rememberRefusal(claim.id, now);
        return;
      }
      if (this.mergeIn(actorKey, claim.id, answer.handover, now)) merged += 1;
      const email = emailOf(answer.handover.profile?.traits);
      if (email) emails.push(email);
    });
    return { refusedLinks, merged, emails };
  }

  /** An alias's previousId may name a known user (never merged) or a visitor; an event's anonymousId is a visitor. */
  private async askHandover(actorKey: string, claim: IdentityClaim): Promise<HandoverAnswer> {
    if (claim.via === "alias") {
      const asUser = `user:${claim.id}`;
      const answer = await profileActor(this.env, asUser).handOver(asUser, actorKey);
      if (answer.outcome !== "none") return answer;
    }
    const visitor = `anon:${claim.id}`;
    return profileActor(this.env, visitor).handOver(visitor, actorKey);
  }

  /**
   * Joins a visitor's handed-over state into this person, with its change
   * records, in one transaction. Returns whether anything was merged.
   */
  private mergeIn(actorKey: string, id: string, handover: Handover, now: number): boolean {
    const link = { id, status: "merged" as const, reason: null, at: now };
    if (!handover.profile) {
      // A visitor never seen before: it now forwards to this person, and there is nothing to take over.
      this.db.insert(schema.identityLinks).values(link).run();
      this.links.set(id, link);
      return false;
    }
    const into: PersonState = {
      ...this.memory,
      sessions: this.memory.profile ? storedSessions(this.db) : [],
    };
    const from: PersonState = {
      profile: handover.profile,
      affinities: new Map(handover.affinities),
      products: new Map(handover.products.map((h) => [h.productId, h])),
      sessions: handover.sessions,
    };
    const changes = mergePeople(actorKey, into, from, this.settings, now);
    const records = changeRecordsOf(publicProfileId(actorKey), [], changes, now);
    this.db.transaction((tx) => {
      tx.delete(schema.sessions).run();
      persistChanges(tx, changes);
      insertRecentEvents(tx, handover.recentEvents);
      tx.insert(schema.identityLinks).values(link).run();
      prune(tx, now);
      appendToOutbox(tx, records, now);
    });
    commitToMemory(this.memory, changes);
    this.memory.sessions = changes.sessionList.slice(-CAPS.memorySessions);
    this.links.set(id, link);
    return true;
  }

  private rememberRefusal(id: string, now: number) {
    const reason = BELONGS_ELSEWHERE;
    this.db.transaction((tx) => {
      tx.insert(schema.identityLinks).values({ id, status: "refused", reason, at: now }).run();
      const refused = [...this.links].filter(([, l]) => l.status === "refused");
      if (refused.length >= REMEMBERED_REFUSALS) {
        const oldest = refused.sort(([, a], [, b]) => a.at - b.at)[0];
        if (oldest) {
          tx.delete(schema.identityLinks).where(eq(schema.identityLinks.id, oldest[0])).run();
          this.links.delete(oldest[0]);
        }
      }
    });
    this.links.set(id, { status: "refused", at: now });
  }

  /**
   * Called on a visitor's actor (`selfKey`) by the person `target` that an
   * event linked it to. The first person to ask takes the visitor over: this
   * actor becomes a forward pointer to them (reads and late events go there)
   * and hands over its state; anyone else is refused. A known user is never
   * handed over.
   */
  async handOver(selfKey: string, target: string): Promise<HandoverAnswer> {
    await this.ready();
    if (this.pointsTo && this.pointsTo !== target) return { outcome: "refused", reason: BELONGS_ELSEWHERE };
    if (selfKey.startsWith("user:")) {
      return this.memory.profile
        ? {
            outcome: "refused",
            reason: "it is a known user, and two known users are never merged; alias only an anonymous id",
          }
        : { outcome: "none" };
    }
    if (!this.pointsTo) {
      await this.ensureSchema();
      const at = Date.now();
      this.db.insert(schema.pointer).values({ id: 1, target, at }).run();
      this.pointsTo = target;
    }
    return { outcome: "merged", handover: readHandover(this.db, this.memory) };
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

  /** Points the e-mail directory entries of these addresses at this person. */
  private async updateDirectory(actorKey: string, emails: ReadonlySet<string>) {
    for (const email of emails) {
      try {
        await profileActor(this.env, await emailDirectoryName(email)).pointTo(actorKey);
      } catch (err) {
        // Tried again on the next identify that carries the address.
        console.error(JSON.stringify({ msg: "e-mail directory update failed", actor: actorKey, error: String(err) }));
      }
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
