/**
 * ProfileActor: one SQLite-backed Durable Object per person (DESIGN §3).
 *
 * Storage is the truth; `memory` is a write-through copy of what reads need
 * (profile row, affinity vector, product history, recent sessions), rebuilt
 * from storage after eviction. Each ingested batch is one synchronous storage
 * transaction. The edge talks to it through a few coarse RPC methods.
 *
 * The same class serves two roles by what its storage holds: a person, and a
 * visitor merged into a person (a forward pointer that still flushes its own
 * outbox). E-mail lookups have their own class (EmailDirectory); actors named
 * `email:<sha256>` here are that directory's entries from before it had one,
 * read once by it and otherwise left alone.
 */
import { DurableObject } from "cloudflare:workers";
import { eq, sql } from "drizzle-orm";
import { type DrizzleSqliteDODatabase, drizzle } from "drizzle-orm/durable-sqlite";
import { migrate } from "drizzle-orm/durable-sqlite/migrator";
import { type CompiledDefinitions, currentDefinitions, definitionsSince, heldDefinitions } from "../audiences/cache";
import { warehouseDb } from "../catalog/store";
import type { Env } from "../env";
import type { DecayingScore } from "../model/affinity";
import { rankedAffinities } from "../model/affinity";
import { changeRecordsOf } from "../model/changes";
import {
  attributeEvents,
  type ExposureRequest,
  joinMembership,
  type Membership,
  newMembership,
} from "../model/experiment-attribution";
import { assignVariant } from "../model/experiments";
import { fullBucket, type TokenBucket, take } from "../model/flood";
import { type IdentityConflict, withoutUnverifiedTraits } from "../model/identity-claims";
import type { ProfileEvent } from "../model/messages";
import {
  applyEvents,
  commitToMemory,
  type PopularInteraction,
  type ProfileMemory,
  type ProfileState,
} from "../model/profile";
import { emailDirectoryName, publicProfileId } from "../model/profile-id";
import type { PersonFacts } from "../model/segment-state";
import { readSettings, type Settings } from "../model/settings";
import type { EventView, ProfileView } from "../model/views";
import {
  changeSender,
  emailDirectory,
  type HandoverAnswer,
  type IngestResult,
  type IngestTrust,
  type PersonalizationInput,
  type PersonIdentity,
  type ProfileActorApi,
  profileActor,
} from "./client";
import { ExperimentMemberships, membershipRecord } from "./experiment-memberships";
import { FlushSchedule } from "./flush-schedule";
import { FRESH_SCHEMA, isEmptyFile } from "./fresh-schema";
import { BELONGS_ELSEWHERE, IdentityLinks } from "./identity-links";
import { askForHandovers, isOperatorRetry, mergeVisitor } from "./identity-resolution";
import { IdleRelease } from "./idle-release";
import migrations from "./migrations/migrations.js";
import { appendToOutbox, confirmOutbox, type OutboxDepth, outboxDepth } from "./outbox";
import {
  emptyMemory,
  loadMemory,
  markScannerClicks,
  persistBatch,
  prune,
  readHandover,
  seenAmong,
} from "./profile-store";
import { type ActorExport, eventViewsOf, experimentAssignment, exportOf, profileViewOf } from "./profile-views";
import { ProfileWatchers, sseFrame } from "./profile-watchers";
import * as schema from "./schema";
import { heldEvents, PersonSegments, personOf, type SegmentPlan } from "./segments";
import { deliverDue } from "./webhooks";

/** The newest bundled migration, as drizzle records it in `__drizzle_migrations.created_at`. */
const LATEST_MIGRATION = Math.max(...migrations.journal.entries.map((e) => e.when));

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
/** Recent events sent with each live view of the profile. */
const LIVE_EVENTS = 20;

function crossesMultiple(before: number, after: number, step: number): boolean {
  return Math.floor(before / step) !== Math.floor(after / step);
}

function emailOf(traits: Record<string, unknown> | undefined): string | null {
  const email = traits?.email;
  return typeof email === "string" && email.includes("@") ? email : null;
}

/** Addresses one actor may claim in the e-mail directory over its life (a person changing address now and then). */
const MAX_DIRECTORY_CLAIMS = 50;

export class ProfileActor extends DurableObject<Env> {
  private readonly db: DrizzleSqliteDODatabase;
  private readonly settings: Settings;
  private memory: ProfileMemory = { profile: null, affinities: new Map(), products: new Map(), sessions: [] };
  private initError: unknown = null;
  private migrated = false;
  /**
   * For a visitor merged into a person (or an e-mail directory entry from
   * before the directory had its own class): the actor key of the person,
   * where reads and late events go.
   */
  private pointsTo: string | null = null;
  /** Ids linked to this person and what came of each. */
  private readonly links = new IdentityLinks();
  /** The experiments this person was exposed to (a write-through copy of `experiment_memberships`). */
  private readonly memberships = new ExperimentMemberships();
  /** Computed traits, event conditions and audience memberships (a write-through copy). */
  private readonly segments = new PersonSegments();
  /** Bumped by every wipe, so work that awaited across one (a webhook delivery) knows it is stale. */
  private generation = 0;
  /** This actor's name when it holds no profile yet (see `actorName`); a profile carries its own. */
  private namedAs: string | null = null;
  /** Flood protection: the events this profile may still take right now (in memory; a flooded actor stays awake). */
  private floodBucket: TokenBucket | null = null;
  /** Ingest calls under way (each may be waiting on visitors' handovers): a known user is not handed over meanwhile. */
  private ingesting = 0;
  /** When a regulation suppressed this identity (mirrors the `suppression` row). */
  private suppressedAt: number | null = null;
  /** The outbox alarm. */
  private readonly flush: FlushSchedule;
  /** Live views of this person (the console's People page), sent each change after it commits. */
  private readonly watchers = new ProfileWatchers();
  /** Self-hosted: resets this actor once idle, so a machine's live actors stay bounded. */
  private readonly idle: IdleRelease;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.settings = readSettings(env);
    this.flush = new FlushSchedule(ctx.storage);
    this.idle = new IdleRelease(ctx, this.settings.actorRelease, () => this.flush.at);
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
    await this.flush.load();
    await this.flush.wakeAt(this.segments.wakeAt);
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
    // A new file gets the whole schema as one script (actors/fresh-schema.ts); others go through the migrator.
    if (isEmptyFile(this.ctx.storage.sql)) {
      this.ctx.storage.transactionSync(() => this.ctx.storage.sql.exec(FRESH_SCHEMA));
    } else await migrate(this.db, migrations);
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
    this.suppressedAt = this.db.select().from(schema.suppression).get()?.at ?? null;
    this.memory = loadMemory(this.db);
    this.links.load(this.db);
    this.memberships.load(this.ctx.storage.sql);
    this.segments.load(this.ctx.storage.sql);
    this.namedAs = this.db.select().from(schema.actorName).get()?.name ?? null;
  }

  /** The name this actor's outbox runs are sent under: its person's, else the one it was told. */
  private ownName(): string | null {
    return this.memory.profile?.actorKey ?? this.namedAs;
  }

  /** The first write creates the schema, behind the input gate like the constructor's migration. */
  private async ensureSchema() {
    if (!this.migrated) await this.ctx.blockConcurrencyWhile(() => this.migrateOnce());
  }

  /**
   * Applies a batch of this person's events in one storage transaction.
   * Events whose messageId was already applied are counted, not re-applied.
   * Visitors the batch links to this user are merged in first. Messages the
   * edge marks untrusted (a browser key without identity verification) do
   * not change an existing user's traits: what they claimed is answered as
   * conflicts.
   */
  async ingest(actorKey: string, events: ProfileEvent[], trust: IngestTrust = {}): Promise<IngestResult> {
    return this.idle.around(async () => {
      this.ingesting += 1;
      try {
        const result = await this.ingestNow(actorKey, events, trust);
        if (result.applied > 0) this.changed();
        return this.withReleaseHint(result);
      } finally {
        this.ingesting -= 1;
      }
    });
  }

  private async ingestNow(actorKey: string, events: ProfileEvent[], trust: IngestTrust): Promise<IngestResult> {
    await this.ready();
    await this.ensureSchema();
    if (this.suppressedAt !== null) return this.dropSuppressed(events.length);
    if (this.pointsTo) return this.forwardIngest(this.pointsTo, events, trust);
    const throttledForMs = this.admit(events.length);
    if (throttledForMs !== null) return { applied: 0, duplicateIds: [], refusedLinks: [], throttledForMs };
    const compiled = await this.definitions();
    const untrusted = new Set(trust.untrusted ?? []);
    // A user who exists is only changed by trusted claims; the first claim of a new user id makes it.
    const guarded = untrusted.size > 0 && actorKey.startsWith("user:") && this.memory.profile !== null;
    const identity = actorKey.startsWith("user:")
      ? await this.resolveIdentity(actorKey, events, untrusted, guarded, compiled, trust.operatorMerge)
      : { refusedLinks: [], merged: 0, emails: [], leftBehind: [] };

    const now = Date.now();
    const deduped = this.dropDuplicates(events);
    const { fresh: unscanned, repeated } = markScannerClicks(this.db, this.ctx.storage.sql, deduped);
    const duplicateIds = [...(deduped.length === events.length ? [] : duplicatesOf(events, deduped)), ...repeated];
    const conflicts: IdentityConflict[] = [];
    const fresh = guarded ? withoutUnverifiedTraits(unscanned, untrusted, actorKey, conflicts) : unscanned;
    const emailBefore = emailOf(this.memory.profile?.traits);
    let popular: PopularInteraction[] = [];
    if (fresh.length > 0) {
      const changes = applyEvents(this.memory, actorKey, fresh, this.settings, now);
      if (this.links.anyRefused) {
        // A visitor that belongs to someone else is not listed as this person's.
        changes.profile.anonymousIds = changes.profile.anonymousIds.filter((id) => !this.links.isRefused(id));
      }
      const profileId = publicProfileId(actorKey);
      const records = changeRecordsOf(profileId, fresh, changes, now);
      const attributed = attributeEvents(this.memberships.current, fresh, {
        sealedLinks: trust.sealedLinks === true,
        untrusted,
      });
      for (const m of attributed) records.push(membershipRecord(profileId, m, now));
      const sql = this.ctx.storage.sql;
      const segments =
        !compiled || this.segments.idle(compiled.defs)
          ? null
          : this.segments.plan(
              compiled,
              fresh,
              personOf(changes.profile),
              this.factsOf(changes.profile, (d) => changes.affinities.get(d) ?? this.memory.affinities.get(d)),
              now,
              () => heldEvents(sql),
            );
      if (segments) records.push(...segments.records);
      let forgotten: string[] = [];
      const pruneDue = crossesMultiple(
        this.memory.profile?.eventCount ?? 0,
        changes.profile.eventCount,
        PRUNE_EVERY_EVENTS,
      );
      this.ctx.storage.transactionSync(() => {
        persistBatch(sql, fresh, changes, now);
        if (segments) this.segments.persist(sql, segments, now);
        if (pruneDue) prune(sql, now);
        if (attributed.length > 0) forgotten = this.memberships.persist(sql, attributed);
        appendToOutbox(sql, records, now);
      });
      commitToMemory(this.memory, changes);
      this.memberships.commit(attributed, forgotten);
      if (segments) await this.segmentsCommitted(segments, now);
      popular = changes.popular;
    }
    if (fresh.length > 0 || identity.merged > 0) await this.recordsAdded(now);
    const emailAfter = emailOf(this.memory.profile?.traits);
    const claims = new Map<string, { trusted: boolean; messageId: string }>();
    for (const { email, trusted, messageId } of identity.emails) claims.set(email, { trusted, messageId });
    if (emailAfter && emailAfter !== emailBefore) {
      const setBy = fresh.findLast((e) => e.type === "identify" && emailOf(e.traits) === emailAfter);
      // Set by an identify: as trusted as that message. Else it came with a merge, whose claim is already in `claims`.
      if (setBy) claims.set(emailAfter, { trusted: !untrusted.has(setBy.messageId), messageId: setBy.messageId });
      else if (!claims.has(emailAfter)) claims.set(emailAfter, { trusted: false, messageId: "" });
    }
    conflicts.push(...(await this.updateDirectory(actorKey, claims)));
    await this.releaseLeftBehind(identity.leftBehind);
    return {
      applied: fresh.length,
      duplicateIds,
      refusedLinks: identity.refusedLinks,
      popular,
      ...(conflicts.length > 0 ? { conflicts } : {}),
    };
  }

  private withReleaseHint(result: IngestResult): IngestResult {
    return this.idle.pressed ? { ...result, release: true } : result;
  }

  /** A suppressed identity's events are counted and dropped, never stored. */
  private dropSuppressed(n: number): IngestResult {
    this.db
      .update(schema.suppression)
      .set({ dropped: sql`${schema.suppression.dropped} + ${n}` })
      .run();
    return { applied: 0, duplicateIds: [], refusedLinks: [], suppressed: n };
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
  private async forwardIngest(target: string, events: ProfileEvent[], trust: IngestTrust): Promise<IngestResult> {
    const fresh = this.dropDuplicates(events);
    const duplicateIds = fresh.length === events.length ? [] : duplicatesOf(events, fresh);
    if (fresh.length === 0) return { applied: 0, duplicateIds, refusedLinks: [] };
    const result = await profileActor(this.env, target).ingest(target, fresh, trust);
    return { ...result, duplicateIds: [...duplicateIds, ...result.duplicateIds] };
  }

  /** Removes events already applied, and repeats within the batch itself. */
  private dropDuplicates(events: readonly ProfileEvent[]): ProfileEvent[] {
    const seen = seenAmong(
      this.ctx.storage.sql,
      events.map((e) => e.messageId),
    );
    return events.filter((e) => {
      if (seen.has(e.messageId)) return false;
      seen.add(e.messageId);
      return true;
    });
  }

  /**
   * Merges in the visitors this batch newly links to the user (`actorKey`),
   * one transaction each, once they have answered.
   */
  private async resolveIdentity(
    actorKey: string,
    events: readonly ProfileEvent[],
    untrusted: ReadonlySet<string>,
    guarded: boolean,
    compiled: CompiledDefinitions | null,
    operatorMerge?: string,
  ) {
    const { answered, refusedLinks } = await askForHandovers(this.env, this.links, actorKey, events, operatorMerge);
    const emails: { email: string; trusted: boolean; messageId: string }[] = [];
    const leftBehind: string[] = [];
    let merged = 0;
    // From here on synchronous: no other call interleaves with these merges.
    const now = Date.now();
    for (const [claim, answer] of answered) {
      const retry = isOperatorRetry(this.links, claim, operatorMerge);
      if ((this.links.has(claim.id) && !retry) || answer.outcome === "none") continue;
      if (answer.outcome === "refused") {
        refusedLinks.push({ messageId: claim.messageId, reason: `${claim.id} was not merged: ${answer.reason}` });
        if (!retry) this.links.recordRefused(this.db, claim.id, now);
        continue;
      }
      const { handover } = answer;
      // A visitor joined to an existing user by an unverified browser claim brings its events, not its traits.
      const verified = !untrusted.has(claim.messageId);
      const withTraits = verified || !guarded;
      const merge = { actorKey, id: claim.id, handover, settings: this.settings, now, withTraits };
      // Synchronous with the merge, so both commit together (no await between them).
      const joined = mergeVisitor(this.db, this.ctx.storage.sql, this.memory, this.links, merge);
      if (handover.segments && compiled)
        this.segments.absorb(this.ctx.storage.sql, compiled.defs, handover.segments, now);
      const fromKey = handover.mergedIds === undefined ? `anon:${claim.id}` : `user:${claim.id}`;
      const absorbed = this.absorbMemberships(actorKey, fromKey, handover.memberships ?? [], now);
      if (joined || absorbed) merged += 1;
      const email = emailOf(handover.profile?.traits);
      // The visitor's address is claimed for the user only as trusted as the message that linked them.
      if (email && withTraits) emails.push({ email, trusted: verified, messageId: claim.messageId });
      if (!withTraits) leftBehind.push(fromKey);
    }
    return { refusedLinks, merged, emails, leftBehind };
  }

  /**
   * Called on a visitor's actor (`selfKey`) by the person `target` that an
   * event linked it to. The first person to ask takes the visitor over: this
   * actor becomes a forward pointer to them (reads and late events go there)
   * and hands over its state; anyone else is refused. A known user is never
   * handed over by identity resolution: only an operator's merge
   * (`operator`, from `POST /v1/profiles/merge`) hands one over, the same way.
   */
  async handOver(selfKey: string, target: string, operator = false): Promise<HandoverAnswer> {
    return this.idle.around(async () => {
      await this.ready();
      if (this.suppressedAt !== null) return { outcome: "refused", reason: "it is suppressed by a privacy regulation" };
      if (this.pointsTo && this.pointsTo !== target) return { outcome: "refused", reason: BELONGS_ELSEWHERE };
      const knownUser = selfKey.startsWith("user:");
      if (knownUser && !this.pointsTo) {
        if (!this.memory.profile) return { outcome: "none" };
        if (!operator) {
          return {
            outcome: "refused",
            reason: "it is a known user, and two known users are never merged; alias only an anonymous id",
          };
        }
        // What an ingest under way merges or applies here would be left behind the pointer.
        if (this.ingesting > 0) {
          return { outcome: "refused", reason: "it is taking in events right now; try the merge again in a moment" };
        }
      }
      if (!this.pointsTo) {
        await this.ensureSchema();
        // The visitor leaves its audiences: the person it joins is evaluated as themselves.
        const compiled = this.segments.audiences().length > 0 ? await this.definitions() : null;
        const at = Date.now();
        const p = this.memory.profile;
        const exits = compiled && p ? this.segments.planExitAll(compiled.defs, personOf(p), at) : null;
        const sql = this.ctx.storage.sql;
        this.ctx.storage.transactionSync(() => {
          this.db.insert(schema.pointer).values({ id: 1, target, at }).run();
          if (exits) {
            this.segments.persist(sql, exits, at);
            appendToOutbox(sql, exits.records, at);
          }
        });
        this.pointsTo = target;
        this.watchers.closeAll(sseFrame("moved", { to: publicProfileId(target) }));
        if (exits) {
          await this.segmentsCommitted(exits, at);
          await this.recordsAdded(at);
        }
      }
      return {
        outcome: "merged",
        handover: {
          ...readHandover(this.db, this.memory),
          memberships: this.memberships.all(),
          segments: this.segments.handover(),
          ...(knownUser ? { mergedIds: this.links.mergedIds(), mergedUserIds: this.links.mergedUserIds() } : {}),
        },
      };
    });
  }

  /** Self-hosted, under pressure: the edge is done with this actor for now (see IdleRelease). */
  async releaseNow(): Promise<void> {
    this.idle.releaseNow();
  }

  /** The profile document, or null when this person has never been seen. From memory, unless definitions changed since their last evaluation. */
  async readProfile(now = Date.now()): Promise<ProfileView | null> {
    return this.idle.around(async () => {
      await this.ready();
      const forward = this.forward();
      if (forward) return forward.readProfile(now);
      return this.profileHere(now);
    });
  }

  private async profileHere(now: number): Promise<ProfileView | null> {
    const view = profileViewOf(this.memory, this.settings, now);
    if (!view) return null;
    const compiled = await this.caughtUpDefinitions(now);
    return {
      ...view,
      audiences: this.segments.audiences(),
      computedTraits: compiled ? this.segments.computedTraits(compiled.defs, now) : {},
      experiments: this.memberships.all().map(experimentAssignment),
    };
  }

  /**
   * A live view of this person (`GET /v1/profiles/:id/stream`): a stream of
   * server-sent events, the profile and recent events now and after every
   * change, following a merged visitor's pointer; null for someone never
   * seen. An open stream counts as a call in flight (the actor is not
   * released under it); it ends after a few minutes and the client reconnects.
   */
  async watch(): Promise<ReadableStream<Uint8Array> | null> {
    return this.idle.around(async () => {
      await this.ready();
      const forward = this.forward();
      if (forward) return forward.watch();
      const frame = await this.liveFrame(Date.now());
      if (!frame) return null;
      const { stream, ended } = this.watchers.watch(frame);
      // Counted from inside this call, so the actor is never without a call in flight in between.
      void this.idle.around(() => ended);
      return stream;
    });
  }

  private async liveFrame(now: number): Promise<string | null> {
    const profile = await this.profileHere(now);
    return profile ? sseFrame("profile", { profile, events: eventViewsOf(this.db, LIVE_EVENTS) }) : null;
  }

  /** After a change committed: the live views get the profile as it is then (coalesced; nothing when nobody watches). */
  private changed() {
    if (this.watchers.size > 0) this.watchers.changed(this.buildLiveFrame);
  }

  private readonly buildLiveFrame = () => this.liveFrame(Date.now());

  /** Change records were committed: sent now (`SINK_FLUSH_MS=0`) or by the alarm within `SINK_FLUSH_MS`. */
  private async recordsAdded(now: number) {
    if (this.settings.sinkFlushMs > 0) return this.flush.recordsAdded(now, this.settings.sinkFlushMs);
    const actor = this.ownName();
    await this.flush.sendNow(now, this.sender(actor), actor, this.settings.sinkRedeliverMs);
  }

  private sender(actor: string | null) {
    return changeSender(this.env, this.settings.sinkCoalesceMs !== null, actor ?? this.ctx.id.toString());
  }

  /**
   * The actor's alarm (FlushSchedule): audiences whose answer time alone has
   * changed are evaluated, due webhook deliveries attempted, and due change
   * records sent through the Queue.
   */
  override async alarm(): Promise<void> {
    return this.idle.around(async () => {
      await this.ready();
      const now = Date.now();
      const deliveriesDue = this.segments.deliveryAt !== null && this.segments.deliveryAt <= now;
      if (this.suppressedAt !== null) {
        // A suppressed person is evaluated for nothing and sent nothing; pending deliveries wait until it is lifted.
        await this.flush.wakeAt(null);
      } else if (this.migrated && (this.segments.due(now) || deliveriesDue)) {
        const compiled = await this.definitions();
        if (compiled && this.segments.due(now) && !this.pointsTo && this.evaluateNow(compiled, now)) this.changed();
        if (compiled && deliveriesDue) {
          const version = this.memory.profile?.version ?? 0;
          const profileId = publicProfileId(this.ownName() ?? this.ctx.id.toString());
          const policy = this.settings.audienceWebhooks;
          const generation = this.generation;
          this.segments.deliveryAt = await deliverDue(
            this.ctx.storage,
            compiled.defs,
            policy,
            profileId,
            version,
            Date.now,
            () => this.generation === generation,
          );
        }
        await this.flush.wakeAt(this.segments.wakeAt);
      }
      const actor = this.ownName();
      await this.flush.run(this.sender(actor), actor, this.settings.sinkRedeliverMs);
    });
  }

  /**
   * The audience and computed-trait definitions (an isolate copy of the
   * warehouse's; see audiences/cache.ts), or null when a cold isolate cannot
   * load them: ingestion then goes on without evaluating segments at all —
   * never against empty definitions, which would end everyone's memberships.
   */
  private async definitions(): Promise<CompiledDefinitions | null> {
    const db = warehouseDb(this.env.WAREHOUSE);
    const waitUntil = (p: Promise<unknown>) => this.ctx.waitUntil(p);
    // Held by this isolate (the usual case): no await, no I/O on the ingest path.
    const held = heldDefinitions(db, waitUntil);
    if (held) return held;
    try {
      return await currentDefinitions(db, waitUntil);
    } catch (err) {
      console.error(JSON.stringify({ msg: "audience definitions not loaded", error: String(err) }));
      return null;
    }
  }

  /**
   * The definitions, with this person caught up on any defined since their
   * last event (evaluated from the events their actor holds), so a read
   * answers the new trait or audience at once. Once per change of definitions.
   */
  private async caughtUpDefinitions(now: number): Promise<CompiledDefinitions | null> {
    const compiled = await this.definitions();
    if (!compiled) return null;
    if (this.memory.profile && !this.pointsTo && this.suppressedAt === null && this.segments.behind(compiled.defs)) {
      const plan = this.evaluateNow(compiled, now);
      await this.flush.wakeAt(this.segments.wakeAt);
      if (plan && plan.records.length > 0) {
        await this.recordsAdded(now);
        this.changed();
      }
    }
    return compiled;
  }

  /** What rules read of the person beside their segment state. */
  private factsOf(p: ProfileState, affinity: (dimension: string) => DecayingScore | undefined): PersonFacts {
    return { traits: p.traits, personalization: p.personalization, affinity, halfLifeMs: this.settings.halfLifeMs };
  }

  private async segmentsCommitted(plan: SegmentPlan, now: number) {
    this.segments.commit(plan, now);
    await this.flush.wakeAt(this.segments.wakeAt);
  }

  /**
   * Evaluates every audience for the person as they are now (no new event):
   * by time, or for a backfill. Writes what changed; the caller sends it.
   */
  private evaluateNow(compiled: CompiledDefinitions, now: number): SegmentPlan | null {
    const p = this.memory.profile;
    if (!p) return null;
    const sql = this.ctx.storage.sql;
    const plan = this.segments.plan(
      compiled,
      [],
      personOf(p),
      this.factsOf(p, (d) => this.memory.affinities.get(d)),
      now,
      () => heldEvents(sql),
    );
    this.ctx.storage.transactionSync(() => {
      this.segments.persist(sql, plan, now);
      appendToOutbox(sql, plan.records, now);
    });
    this.segments.commit(plan, now);
    return plan;
  }

  /**
   * A backfill's call (audiences/backfill.ts): evaluates every audience for
   * this person against definitions loaded since `since`, recording any
   * transition. Answers the audiences they are in, or why there was nothing
   * to evaluate (a visitor merged into a person, or nobody here).
   */
  async evaluateAudiences(
    since: number,
  ): Promise<{ outcome: "evaluated"; audiences: string[] } | { outcome: "forwarded" | "unknown" }> {
    return this.idle.around(async () => {
      await this.ready();
      if (this.pointsTo) return { outcome: "forwarded" };
      if (!this.memory.profile || this.suppressedAt !== null) return { outcome: "unknown" };
      const compiled = await definitionsSince(warehouseDb(this.env.WAREHOUSE), since, (p) => this.ctx.waitUntil(p));
      const now = Date.now();
      const plan = this.evaluateNow(compiled, now);
      await this.flush.wakeAt(this.segments.wakeAt);
      if (plan && plan.records.length > 0) {
        await this.recordsAdded(now);
        this.changed();
      }
      return { outcome: "evaluated", audiences: this.segments.audiences() };
    });
  }

  /** The consumer applied these outbox runs (`[firstSeq, lastSeq]` each): their rows can go. */
  async confirmDelivered(ranges: [number, number][]): Promise<number> {
    return this.idle.around(async () => {
      await this.ready();
      if (!this.migrated) return 0;
      const deleted = confirmOutbox(this.ctx.storage.sql, ranges);
      await this.flush.confirmed();
      return deleted;
    });
  }

  /** The person this directory entry names (one hop), or null for an actor that is a person. */
  private forward(): ProfileActorApi | null {
    return this.pointsTo ? profileActor(this.env, this.pointsTo) : null;
  }

  /** For an e-mail directory entry written before EmailDirectory existed: the person it names. */
  async directoryTarget(): Promise<string | null> {
    return this.idle.around(async () => {
      await this.ready();
      return this.memory.profile ? null : this.pointsTo;
    });
  }

  /**
   * Claims these addresses in the e-mail directory for this person; answers
   * the claims the directory refused (the address names another known
   * person and the claim was not trusted).
   */
  private async updateDirectory(
    actorKey: string,
    emails: ReadonlyMap<string, { trusted: boolean; messageId: string }>,
  ): Promise<IdentityConflict[]> {
    const conflicts: IdentityConflict[] = [];
    for (const [email, { trusted, messageId }] of emails) {
      try {
        const name = await emailDirectoryName(email);
        if (!this.noteDirectoryClaim(name)) {
          console.warn(JSON.stringify({ msg: "e-mail claim not made: too many addresses", actor: actorKey }));
          continue;
        }
        const answer = await emailDirectory(this.env, name).claim(name, actorKey, trusted);
        if (answer.outcome === "refused") {
          conflicts.push({
            messageId,
            kind: "email_claimed",
            profileId: publicProfileId(actorKey),
            holderProfileId: publicProfileId(answer.holder),
            emailSha256: name.slice("email:".length),
          });
        }
      } catch (err) {
        // Tried again on the next identify that carries the address.
        console.error(JSON.stringify({ msg: "e-mail directory update failed", actor: actorKey, error: String(err) }));
      }
    }
    return conflicts;
  }

  /**
   * A visitor merged in by an unverified browser claim leaves its traits
   * behind, its addresses among them: the visitor's actor now forwards here,
   * so every claim it made on an address is withdrawn — else a lookup of that
   * address would lead to this person, who never claimed it (anyone holding
   * the browser key could make their own address read, or erase, someone
   * else's profile).
   */
  private async releaseLeftBehind(visitorKeys: readonly string[]) {
    for (const visitorKey of visitorKeys) {
      try {
        const names = await profileActor(this.env, visitorKey).ownDirectoryClaims();
        await Promise.all(names.map((name) => emailDirectory(this.env, name).release(name, [visitorKey])));
      } catch (err) {
        console.error(
          JSON.stringify({ msg: "e-mail directory release failed", visitor: visitorKey, error: String(err) }),
        );
      }
    }
  }

  /**
   * Remembers, before claiming, a directory entry this actor claims; false
   * when the actor already claimed as many addresses as it may, so a flood
   * of made-up addresses cannot grow it without bound.
   */
  private noteDirectoryClaim(name: string): boolean {
    const t = schema.directoryClaims;
    if (this.db.select({ name: t.name }).from(t).where(eq(t.name, name)).get()) return true;
    const n = this.db.select({ n: sql<number>`count(*)` }).from(t).get()?.n ?? 0;
    if (n >= MAX_DIRECTORY_CLAIMS) return false;
    this.db.insert(t).values({ name, at: Date.now() }).run();
    return true;
  }

  /** The directory entries this actor itself claimed (not followed to a person): what an erasure must release. */
  async ownDirectoryClaims(): Promise<string[]> {
    return this.idle.around(async () => {
      await this.ready();
      if (!this.migrated) return [];
      return this.db
        .select({ name: schema.directoryClaims.name })
        .from(schema.directoryClaims)
        .all()
        .map((r) => r.name);
    });
  }

  /** Who this person is, following a visitor's or directory entry's pointer one hop; null when nobody is here. */
  async identity(): Promise<PersonIdentity | null> {
    return this.idle.around(async () => {
      await this.ready();
      const forward = this.forward();
      if (forward) return forward.identity();
      const p = this.memory.profile;
      if (!p) return null;
      const email = emailOf(p.traits);
      return {
        actorKey: p.actorKey,
        userId: p.userId,
        anonymousIds: p.anonymousIds,
        mergedIds: this.links.mergedIds(),
        mergedUserIds: this.links.mergedUserIds(),
        emails: email ? [email] : [],
        suppressed: this.suppressedAt !== null,
      };
    });
  }

  /**
   * Erases everything this actor holds — tables, alarm, outbox, memory — in
   * one step behind the input gate. With `suppress`, what remains is only
   * the suppression marker, which names no one (`linked` holds the ids of
   * the actors suppressed with it): the actor drops what is sent to it from
   * then on.
   */
  async wipe(suppress: boolean, linked: string[] = []): Promise<void> {
    return this.idle.around(async () => {
      await this.ready();
      await this.ctx.blockConcurrencyWhile(async () => {
        this.generation += 1;
        await this.flush.clear();
        await this.ctx.storage.deleteAll();
        this.memory = emptyMemory();
        this.pointsTo = null;
        this.links.clear();
        this.memberships.clear();
        this.segments.clear();
        this.namedAs = null;
        this.migrated = false;
        this.floodBucket = null;
        this.suppressedAt = null;
        if (suppress) await this.markSuppressed(Date.now(), linked);
      });
      this.watchers.closeAll(sseFrame("erased", {}));
    });
  }

  /**
   * Suppresses (or stops suppressing) this identity without touching what it
   * holds: SUPPRESS_ONLY, UNSUPPRESS. Lifting answers the ids of the actors
   * that were suppressed with this one, so the caller lifts theirs too.
   */
  async setSuppressed(on: boolean, linked: string[] = []): Promise<string[]> {
    return this.idle.around(async () => {
      await this.ready();
      if (on === (this.suppressedAt !== null)) return [];
      if (on) {
        await this.ctx.blockConcurrencyWhile(() => this.markSuppressed(Date.now(), linked));
        return [];
      }
      const marker = this.db.select().from(schema.suppression).get();
      this.db.delete(schema.suppression).run();
      this.suppressedAt = null;
      return marker?.linked ?? [];
    });
  }

  /** Called behind the input gate. */
  private async markSuppressed(at: number, linked: string[]) {
    await this.migrateOnce();
    const self = this.ctx.id.toString();
    const others = linked.filter((id) => id !== self);
    this.db.insert(schema.suppression).values({ id: 1, at, dropped: 0, linked: others }).onConflictDoNothing().run();
    this.suppressedAt = at;
  }

  /** Everything held about this person here, following a pointer one hop (GDPR access). */
  async exportData(): Promise<ActorExport | null> {
    return this.idle.around(async () => {
      await this.ready();
      const forward = this.forward();
      if (forward) return forward.exportData();
      if (!this.migrated) return null;
      const held = exportOf(this.db, this.ctx.storage.sql, this.memory);
      if (!held) return null;
      return {
        ...held,
        experiments: this.memberships.all(),
        audiences: this.segments.memberships(),
        segmentState: this.segments.handover().states,
      };
    });
  }

  /** Pending change records, for operators and tests. */
  async outboxStatus(): Promise<OutboxDepth & { alarmAt: number | null }> {
    return this.idle.around(async () => {
      await this.ready();
      const forward = this.forward();
      if (forward) return forward.outboxStatus();
      if (!this.migrated) return { pending: 0, oldestAt: null, unconfirmed: 0, alarmAt: null };
      return { ...outboxDepth(this.ctx.storage.sql), alarmAt: this.flush.at };
    });
  }

  /** The newest `limit` events, newest first. */
  async readEvents(limit: number): Promise<EventView[] | null> {
    return this.idle.around(async () => {
      await this.ready();
      const forward = this.forward();
      if (forward) return forward.readEvents(limit);
      return this.memory.profile ? eventViewsOf(this.db, limit) : null;
    });
  }

  /**
   * The person's variant in an experiment: recorded on first exposure, with
   * its change record, and the same on every later call (ESPs render one
   * e-mail several times: HTML, text, AMP, previews).
   */
  private async expose(request: ExposureRequest, now: number) {
    // Every call after the first (most of them): memory only.
    const known = this.memberships.current.get(request.experimentId);
    if (known) return { variant: known.variant, exposedAt: known.exposedAt, first: false };
    const variant = await assignVariant(request, request.salt, request.actorKey);
    // Someone this actor knows nothing about is shown the variant, not recorded, unless the caller may add recipients.
    if (!request.recordUnknown && this.memory.profile === null) return { variant, exposedAt: now, first: false };
    await this.ensureSchema();
    // Another call may have recorded it while this one hashed.
    const recorded = this.memberships.current.get(request.experimentId);
    if (recorded) return { variant: recorded.variant, exposedAt: recorded.exposedAt, first: false };
    const membership = newMembership(request, variant, now);
    const sql = this.ctx.storage.sql;
    const named = this.ownName();
    const profileId = publicProfileId(named ?? request.actorKey);
    let forgotten: string[] = [];
    this.ctx.storage.transactionSync(() => {
      if (!named) sql.exec("INSERT OR REPLACE INTO actor_name (id, name) VALUES (1, ?)", request.actorKey);
      forgotten = this.memberships.persist(sql, [membership]);
      appendToOutbox(sql, [membershipRecord(profileId, membership, now)], now);
    });
    this.memberships.commit([membership], forgotten);
    if (!named) this.namedAs = request.actorKey;
    await this.recordsAdded(now);
    return { variant, exposedAt: now, first: true };
  }

  /**
   * A merged visitor's experiment memberships join the person's (earliest
   * exposure wins, see joinMembership). The visitor's own warehouse rows are
   * marked as merged into the person, so each person is one recipient.
   * Returns whether anything was written.
   */
  private absorbMemberships(actorKey: string, visitorKey: string, theirs: readonly Membership[], now: number): boolean {
    if (theirs.length === 0) return false;
    const into = publicProfileId(actorKey);
    const from = publicProfileId(visitorKey);
    const joined = theirs.flatMap((m) => joinMembership(this.memberships.current.get(m.experimentId), m) ?? []);
    const records = [
      ...theirs.map((m) => membershipRecord(from, m, now, { into })),
      ...joined.map((m) => membershipRecord(into, m, now)),
    ];
    const sql = this.ctx.storage.sql;
    let forgotten: string[] = [];
    this.ctx.storage.transactionSync(() => {
      if (joined.length > 0) forgotten = this.memberships.persist(sql, joined);
      appendToOutbox(sql, records, now);
    });
    this.memberships.commit(joined, forgotten);
    return true;
  }

  /**
   * What the recommender needs, in one call, from memory. With `exposure`
   * (a merge call inside a running experiment), also the person's variant:
   * the one recorded on their first exposure, else assigned and recorded now.
   */
  async personalization(now = Date.now(), exposure?: ExposureRequest): Promise<PersonalizationInput> {
    return this.idle.around(async () => {
      await this.ready();
      const forward = this.forward();
      if (forward && this.pointsTo) {
        return forward.personalization(now, exposure && { ...exposure, actorKey: this.pointsTo });
      }
      const experiment = exposure && this.suppressedAt === null ? await this.expose(exposure, now) : undefined;
      // A first exposure is a new assignment on the profile.
      if (experiment) this.changed();
      const p = this.memory.profile;
      const compiled = await this.caughtUpDefinitions(now);
      return {
        audiences: this.segments.audiences(),
        computedTraits:
          compiled && compiled.defs.traits.length > 0 && p ? this.segments.computedTraits(compiled.defs, now) : {},
        ...(experiment ? { experiment } : {}),
        known: p !== null,
        profileId: p ? publicProfileId(p.actorKey) : null,
        traits: p?.traits ?? {},
        signals:
          p && p.personalization !== false
            ? {
                affinities: rankedAffinities(this.memory.affinities, now, this.settings.halfLifeMs, 50),
                products: [...this.memory.products.values()],
              }
            : null,
      };
    });
  }
}
