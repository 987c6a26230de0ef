/**
 * D1 warehouse schema (drizzle-orm/d1). SQL migrations in `migrations/` are
 * generated from this file by `npm run db:generate` and applied by
 * `wrangler d1 migrations apply`.
 *
 * Star-shaped: the `events` fact table points at the profile, product and
 * session dimensions; affinities, the quarantine of bad events, suppressions
 * and the sink's own bookkeeping sit beside them. `docs/warehouse.md` has the
 * diagram and example queries.
 */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/** Product dimension and the catalog's source of truth. */
export const products = sqliteTable("products", {
  id: text("id").primaryKey(),
  title: text("title").notNull(),
  url: text("url").notNull(),
  imageUrl: text("image_url"),
  price: real("price"),
  currency: text("currency").notNull(),
  categories: text("categories", { mode: "json" }).$type<string[]>().notNull(),
  brand: text("brand"),
  inStock: integer("in_stock", { mode: "boolean" }).notNull(),
  updatedAt: integer("updated_at").notNull(),
});

/**
 * Popularity per product, decayed without a background job: each interaction
 * adds `weight · 2^((t − epoch)/halfLife)`, so adding is a plain `score + x`
 * and ordering by score orders by decayed popularity at any later time.
 */
export const productPopularity = sqliteTable("product_popularity", {
  productId: text("product_id").primaryKey(),
  score: real("score").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

/** Quarantine of rejected messages: never silently dropped (DESIGN §2.1). */
export const badEvents = sqliteTable(
  "bad_events",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    receivedAt: integer("received_at").notNull(),
    source: text("source").notNull(),
    /** A `RejectionCode`, for counting and filtering; `reason` says the detail. */
    code: text("code").notNull().default("invalid_fields"),
    reason: text("reason").notNull(),
    messageIndex: integer("message_index"),
    payload: text("payload").notNull(),
    /** When a corrected (or unchanged) payload was replayed and accepted; null while it waits. */
    replayedAt: integer("replayed_at"),
    /** The messageId the replay was stored under. */
    replayedMessageId: text("replayed_message_id"),
    /**
     * Whose message it was, read from the payload's own fields when it is an
     * object (`userId`, `anonymousId` as text, and the SHA-256 hex of the
     * trimmed, lower-cased `traits.email` — the directory's hash): erasure and
     * export select on these, never on the payload's text. Null when the
     * payload does not say.
     */
    userId: text("user_id"),
    anonymousId: text("anonymous_id"),
    emailHash: text("email_hash"),
    /**
     * The class of the write key the message came with (`browser`, `server`):
     * a replay applies it with the same trust. Null for rows kept before it
     * was recorded, which replay as before (vouched for by the operator).
     */
    writeKeyClass: text("write_key_class"),
  },
  (t) => [
    index("bad_events_received_at").on(t.receivedAt),
    index("bad_events_code").on(t.code, t.id),
    index("bad_events_user_id").on(t.userId),
    index("bad_events_anonymous_id").on(t.anonymousId),
    index("bad_events_email_hash").on(t.emailHash),
  ],
);

/** Profile dimension: the newest state each actor reported (version-guarded upserts). */
export const profiles = sqliteTable(
  "profiles",
  {
    /** Public profile id: `user_id:42`, `anonymous_id:abc`. */
    profileId: text("profile_id").primaryKey(),
    userId: text("user_id"),
    anonymousIds: text("anonymous_ids", { mode: "json" }).$type<string[]>().notNull(),
    traits: text("traits", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    groupIds: text("group_ids", { mode: "json" }).$type<string[]>().notNull(),
    firstSeen: integer("first_seen").notNull(),
    lastSeen: integer("last_seen").notNull(),
    eventCount: integer("event_count").notNull(),
    sessionCount: integer("session_count").notNull(),
    version: integer("version").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    // People search (`GET /v1/profiles?q=`): a prefix of a user id or an e-mail address is a range of these.
    index("profiles_user_id").on(t.userId),
    index("profiles_email").on(sql`json_extract(${t.traits}, '$.email')`),
  ],
);

/** Session dimension, one row per visit. */
export const sessions = sqliteTable(
  "sessions",
  {
    profileId: text("profile_id").notNull(),
    number: integer("number").notNull(),
    startedAt: integer("started_at").notNull(),
    endedAt: integer("ended_at").notNull(),
    events: integer("events").notNull(),
    pages: integer("pages").notNull(),
    revenue: real("revenue").notNull(),
    landingPage: text("landing_page"),
    version: integer("version").notNull(),
  },
  (t) => [primaryKey({ columns: [t.profileId, t.number] }), index("sessions_started_at").on(t.startedAt)],
);

/** Events fact table: one row per applied message, keyed by `messageId` (insert-or-ignore). */
export const events = sqliteTable(
  "events",
  {
    messageId: text("message_id").primaryKey(),
    profileId: text("profile_id").notNull(),
    userId: text("user_id"),
    anonymousId: text("anonymous_id"),
    type: text("type").notNull(),
    name: text("name"),
    timestamp: integer("timestamp").notNull(),
    receivedAt: integer("received_at").notNull(),
    sessionNumber: integer("session_number"),
    productId: text("product_id"),
    revenue: real("revenue").notNull(),
    properties: text("properties", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    traits: text("traits", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    context: text("context", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    /** The R2 object holding this event's raw line; null until the lake write claims it. */
    lakeKey: text("lake_key"),
    loadedAt: integer("loaded_at").notNull(),
  },
  (t) => [
    index("events_profile_time").on(t.profileId, t.timestamp),
    index("events_time").on(t.timestamp),
    index("events_lake_key").on(t.lakeKey),
  ],
);

/** Each profile's affinity scores, as (score, as_of): decay with `score * 2^(-(now - as_of) / half_life)`. */
export const profileAffinities = sqliteTable(
  "profile_affinities",
  {
    profileId: text("profile_id").notNull(),
    dimension: text("dimension").notNull(),
    score: real("score").notNull(),
    asOf: integer("as_of").notNull(),
    version: integer("version").notNull(),
  },
  (t) => [primaryKey({ columns: [t.profileId, t.dimension] })],
);

/** Identities whose future events are dropped at the edge (GDPR/CCPA suppression). */
export const suppressions = sqliteTable(
  "suppressions",
  {
    subjectType: text("subject_type").notNull(),
    /** SHA-256 of the normalized identifier, so the list itself holds no personal data. */
    subjectHash: text("subject_hash").notNull(),
    regulationId: text("regulation_id"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.subjectType, t.subjectHash] })],
);

/**
 * Profiles erased by a regulation, by a one-way hash of their public id:
 * change records made before `erased_at` that are still in flight (sent by
 * the actor, not yet applied) are dropped by the consumer instead of
 * bringing the person back.
 */
export const erasedProfiles = sqliteTable("erased_profiles", {
  profileHash: text("profile_hash").primaryKey(),
  erasedAt: integer("erased_at").notNull(),
});

/** GDPR/CCPA regulations (Segment's Public API shape), processed through the regulations Queue. */
export const regulations = sqliteTable(
  "regulations",
  {
    id: text("id").primaryKey(),
    regulationType: text("regulation_type").notNull(),
    subjectType: text("subject_type").notNull(),
    createdAt: integer("created_at").notNull(),
    finishedAt: integer("finished_at"),
  },
  // The newest first, a page at a time (`GET /v1/regulations`).
  (t) => [index("regulations_created").on(t.createdAt, t.id)],
);

/** One row per subject of a regulation; the subject itself is kept only as a one-way hash. */
export const regulationSubjects = sqliteTable(
  "regulation_subjects",
  {
    regulationId: text("regulation_id").notNull(),
    position: integer("position").notNull(),
    subjectHash: text("subject_hash").notNull(),
    /** `INITIALIZED`, `RUNNING`, `FINISHED` or `FAILED`. */
    status: text("status").notNull(),
    /** What was removed, or why it failed. */
    detail: text("detail"),
    updatedAt: integer("updated_at").notNull(),
    /**
     * The normalized subject itself, kept only while its work is pending so a
     * lost job can be sent again (`resumeRegulations`); cleared when the
     * subject is FINISHED or FAILED, leaving only the hash.
     */
    pendingSubject: text("pending_subject"),
  },
  (t) => [
    primaryKey({ columns: [t.regulationId, t.position] }),
    index("regulation_subjects_pending").on(t.status, t.updatedAt),
  ],
);

/** Queue messages that exhausted their retries, kept for an operator to inspect and replay. */
export const deadLetters = sqliteTable(
  "dead_letters",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    queue: text("queue").notNull(),
    /** The outbox run (`actor#first-last`) or, for a body that names none, the Queue's message id: kept once. */
    messageId: text("message_id").notNull(),
    attempts: integer("attempts").notNull(),
    body: text("body").notNull(),
    receivedAt: integer("received_at").notNull(),
    /**
     * The public profile ids (`user_id:42`) the body's change records and
     * outbox run belong to, as a JSON array: erasure selects on these, never
     * on the body's text. Null when the body names none it can be read for.
     */
    profileIds: text("profile_ids", { mode: "json" }).$type<string[]>(),
  },
  (t) => [uniqueIndex("dead_letters_message_id").on(t.messageId)],
);

/** The sink's counters (rows written per table, statements, last batch time and lag). */
export const sinkStats = sqliteTable("sink_stats", {
  name: text("name").primaryKey(),
  value: real("value").notNull(),
});

/**
 * Identity claims from browser sources that were not applied (DESIGN §2.6,
 * `BROWSER_WRITE_KEYS`): traits for an existing user without identity
 * verification, and e-mail addresses whose lookup names another known
 * person. Kept for an operator to review (`GET /v1/identity/conflicts`);
 * each row says whose it is in its own columns, so erasure finds it by
 * structure.
 */
export const identityConflicts = sqliteTable(
  "identity_conflicts",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    receivedAt: integer("received_at").notNull(),
    /** `unverified_traits` or `email_claimed`. */
    kind: text("kind").notNull(),
    messageId: text("message_id").notNull(),
    /** The profile the message was sent as (`user_id:42`). */
    profileId: text("profile_id").notNull(),
    /** For `email_claimed`: whom the address's lookup stays with, and the address's SHA-256. */
    holderProfileId: text("holder_profile_id"),
    emailSha256: text("email_sha256"),
    /** What was claimed (traits), as JSON. */
    claimed: text("claimed", { mode: "json" }).$type<Record<string, unknown>>(),
  },
  (t) => [
    index("identity_conflicts_profile").on(t.profileId),
    index("identity_conflicts_holder").on(t.holderProfileId),
    index("identity_conflicts_email").on(t.emailSha256),
    // The cap walks each kind from its newest row, retention the oldest rows.
    index("identity_conflicts_kind").on(t.kind, t.id),
    index("identity_conflicts_received").on(t.receivedAt),
  ],
);

/**
 * Experiments (DESIGN §7) as the marketer defined them. `salt` feeds the
 * assignment hash; `variants` is the JSON array of `{ key, weight, strategy,
 * productIds? }`. A stopped experiment keeps its row: its results are read
 * up to `stopped_at`, and its campaign's merge calls get the control.
 */
export const experiments = sqliteTable(
  "experiments",
  {
    id: text("id").primaryKey(),
    name: text("name"),
    campaign: text("campaign"),
    control: text("control").notNull(),
    variants: text("variants", { mode: "json" }).notNull(),
    conversionEvent: text("conversion_event").notNull(),
    attributionWindowDays: integer("attribution_window_days").notNull(),
    salt: text("salt").notNull(),
    status: text("status", { enum: ["running", "stopped"] }).notNull(),
    createdAt: integer("created_at").notNull(),
    stoppedAt: integer("stopped_at"),
  },
  (t) => [
    index("experiments_campaign").on(t.campaign, t.createdAt),
    // A campaign's merge calls join one running experiment.
    uniqueIndex("experiments_running_campaign").on(t.campaign).where(sql`status = 'running'`),
  ],
);

/**
 * One row per person and experiment (an accumulating snapshot fact): the
 * variant of their first exposure and when they opened, clicked and
 * converted, each set once by the person's actor. `revision` guards the
 * upsert, so a redelivered or late record never undoes a newer one. A
 * visitor merged into a known person keeps a row with `merged_into` set:
 * the person's own row counts them, once.
 */
export const experimentExposures = sqliteTable(
  "experiment_exposures",
  {
    experimentId: text("experiment_id").notNull(),
    profileId: text("profile_id").notNull(),
    variant: text("variant").notNull(),
    exposedAt: integer("exposed_at").notNull(),
    openedAt: integer("opened_at"),
    clickedAt: integer("clicked_at"),
    convertedAt: integer("converted_at"),
    conversionMessageId: text("conversion_message_id"),
    revenue: real("revenue").notNull(),
    mergedInto: text("merged_into"),
    revision: integer("revision").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.experimentId, t.profileId] }),
    index("experiment_exposures_variant").on(t.experimentId, t.variant),
    index("experiment_exposures_profile").on(t.profileId),
    index("experiment_exposures_merged_into").on(t.mergedInto),
  ],
);

/** Computed-trait definitions (DESIGN §8), read by every actor through an isolate copy. */
export const computedTraits = sqliteTable("computed_traits", {
  key: text("key").primaryKey(),
  definition: text("definition", { mode: "json" }).notNull(),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

/**
 * Audience definitions (DESIGN §8) and the progress of each one's latest
 * backfill: every profile the warehouse lists is evaluated once through the
 * audience Queue (`backfill_done` of `backfill_total`).
 */
export const audiences = sqliteTable("audiences", {
  key: text("key").primaryKey(),
  name: text("name").notNull(),
  rule: text("rule", { mode: "json" }).notNull(),
  /** `[{ type, url, secret }]`: the secrets sign deliveries and are never shown. */
  destinations: text("destinations", { mode: "json" }).notNull(),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
  backfillId: text("backfill_id"),
  backfillStatus: text("backfill_status", { enum: ["running", "done"] }),
  backfillTotal: integer("backfill_total"),
  backfillDone: integer("backfill_done"),
  backfillStartedAt: integer("backfill_started_at"),
  backfillFinishedAt: integer("backfill_finished_at"),
});

/**
 * One row per stint of a person in an audience: when they entered and, once
 * they left, when they exited. "Who was in the audience at time D" is
 * `entered_at <= D AND (exited_at IS NULL OR exited_at > D)`.
 */
export const audienceMemberships = sqliteTable(
  "audience_memberships",
  {
    audienceKey: text("audience_key").notNull(),
    profileId: text("profile_id").notNull(),
    enteredAt: integer("entered_at").notNull(),
    exitedAt: integer("exited_at"),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.audienceKey, t.profileId, t.enteredAt] }),
    // Current members, in entry order, for paging and sizes.
    index("audience_memberships_current").on(t.audienceKey, t.exitedAt, t.enteredAt, t.profileId),
    index("audience_memberships_profile").on(t.profileId),
  ],
);

/**
 * Webhook deliveries of audience transitions that finished: delivered, or
 * dead after the last retry (`body` kept so an operator can see and resend it).
 */
export const audienceDeliveries = sqliteTable(
  "audience_deliveries",
  {
    messageId: text("message_id").notNull(),
    destination: text("destination").notNull(),
    audienceKey: text("audience_key").notNull(),
    profileId: text("profile_id").notNull(),
    status: text("status", { enum: ["delivered", "dead"] }).notNull(),
    attempts: integer("attempts").notNull(),
    lastError: text("last_error"),
    body: text("body"),
    at: integer("at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.messageId, t.destination] }),
    index("audience_deliveries_audience").on(t.audienceKey, t.status, t.at),
    index("audience_deliveries_profile").on(t.profileId),
  ],
);
