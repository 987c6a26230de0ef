/**
 * The profile actor's own SQLite schema (one database per person). Every
 * table is bounded by a cap enforced in `ProfileActor.ingest`: the warehouse
 * keeps the full history, the actor keeps what personalization needs now.
 */
import { index, integer, real, sqliteTable, text } from "drizzle-orm/sqlite-core";

/** Singleton row (`id = 1`) with the person's identity, traits and counters. */
export const profile = sqliteTable("profile", {
  id: integer("id").primaryKey(),
  actorKey: text("actor_key").notNull(),
  userId: text("user_id"),
  anonymousIds: text("anonymous_ids", { mode: "json" }).$type<string[]>().notNull(),
  traits: text("traits", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
  /** When each trait was last set, so an older identify never overwrites a newer one. */
  traitTimes: text("trait_times", { mode: "json" }).$type<Record<string, number>>().notNull(),
  groupIds: text("group_ids", { mode: "json" }).$type<string[]>().notNull(),
  firstSeen: integer("first_seen").notNull(),
  lastSeen: integer("last_seen").notNull(),
  eventCount: integer("event_count").notNull(),
  sessionCount: integer("session_count").notNull(),
  version: integer("version").notNull(),
  /** The newest consent to personalization the person gave or refused (null: never said). */
  personalization: integer("personalization", { mode: "boolean" }),
  /** When that consent was given or refused (event time). */
  consentAt: integer("consent_at"),
});

/** Ring buffer of the most recent events (newest = highest seq). */
export const recentEvents = sqliteTable("recent_events", {
  seq: integer("seq").primaryKey({ autoIncrement: true }),
  messageId: text("message_id").notNull(),
  type: text("type").notNull(),
  name: text("name"),
  timestamp: integer("timestamp").notNull(),
  receivedAt: integer("received_at").notNull(),
  body: text("body", { mode: "json" })
    .$type<{ properties: Record<string, unknown>; traits: Record<string, unknown>; context: Record<string, unknown> }>()
    .notNull(),
});

/** messageIds applied recently: the idempotency window. */
export const seenMessages = sqliteTable(
  "seen_messages",
  {
    messageId: text("message_id").primaryKey(),
    seenAt: integer("seen_at").notNull(),
  },
  (t) => [index("seen_messages_seen_at").on(t.seenAt)],
);

export const sessions = sqliteTable("sessions", {
  number: integer("number").primaryKey(),
  startedAt: integer("started_at").notNull(),
  endedAt: integer("ended_at").notNull(),
  events: integer("events").notNull(),
  pages: integer("pages").notNull(),
  revenue: real("revenue").notNull(),
  landingPage: text("landing_page"),
});

/** Affinity score per dimension, valid at `as_of` (decayed lazily on read). */
export const affinities = sqliteTable("affinities", {
  dimension: text("dimension").primaryKey(),
  score: real("score").notNull(),
  asOf: integer("as_of").notNull(),
});

/** Per-product history for "viewed but not bought" and "already bought". */
export const productHistory = sqliteTable("product_history", {
  productId: text("product_id").primaryKey(),
  lastViewedAt: integer("last_viewed_at"),
  lastAddedAt: integer("last_added_at"),
  lastPurchasedAt: integer("last_purchased_at"),
});

/**
 * The transactional outbox: change records written in the same transaction
 * as the change (DESIGN §3), sent through the Queue by the alarm, and deleted
 * when the consumer confirms it applied them; records sent but not confirmed
 * in time are sent again.
 */
export const outbox = sqliteTable("outbox", {
  seq: integer("seq").primaryKey({ autoIncrement: true }),
  /** A `ChangeRecord` as JSON text, sent as is. */
  record: text("record").notNull(),
  /** UTF-8 size of `record`, for packing within the Queue's limits. */
  bytes: integer("bytes").notNull(),
  createdAt: integer("created_at").notNull(),
  /** When it was last handed to the Queue; the row stays until the consumer confirms it was applied. */
  sentAt: integer("sent_at"),
});

/**
 * Set when this actor is an identifier-directory entry rather than a person:
 * `email:<sha256 of the normalized address>` points at the person's actor,
 * and every read is forwarded there, one hop.
 */
export const pointer = sqliteTable("pointer", {
  id: integer("id").primaryKey(),
  /** Actor key of the person: `user:42`. */
  target: text("target").notNull(),
  at: integer("at").notNull(),
});

/**
 * Identity resolution on a person's actor: each id a batch linked to this
 * person (an anonymousId, or an alias's previousId) and what came of it, so
 * a link is resolved once however many events repeat it.
 */
export const identityLinks = sqliteTable("identity_links", {
  id: text("id").primaryKey(),
  /**
   * `merged`: the visitor's state joined this person; `merged_user`: a known
   * user an operator merged in (`POST /v1/profiles/merge`); `refused`: it
   * belongs elsewhere (see `reason`).
   */
  status: text("status", { enum: ["merged", "merged_user", "refused"] }).notNull(),
  reason: text("reason"),
  at: integer("at").notNull(),
});

/**
 * Set when a regulation suppressed this identity (GDPR/CCPA): the actor
 * drops and counts every event sent to it. After an erasure it is the only
 * row left, and it holds nothing about the person.
 */
export const suppression = sqliteTable("suppression", {
  id: integer("id").primaryKey(),
  at: integer("at").notNull(),
  /** Events dropped since the suppression began. */
  dropped: integer("dropped").notNull(),
  /**
   * The other actors suppressed with this one (the person's and their merged
   * visitors'), as Durable Object ids: one-way hashes of the names, so the
   * marker still names no one, yet lifting any one of them lifts them all.
   */
  linked: text("linked", { mode: "json" }).$type<string[]>().notNull().default([]),
});

/**
 * The e-mail directory entries (`email:<sha256>`) this actor ever claimed,
 * so that an erasure reaches every entry that names it — also an address the
 * person has since changed, or a visitor's address before it was merged.
 */
export const directoryClaims = sqliteTable("directory_claims", {
  name: text("name").primaryKey(),
  at: integer("at").notNull(),
});

/**
 * This person's part in each experiment (model/experiment-attribution.ts):
 * the variant of their first exposure and what they did after, each outcome
 * set once. At most `MAX_MEMBERSHIPS` rows.
 */
export const experimentMemberships = sqliteTable("experiment_memberships", {
  experimentId: text("experiment_id").primaryKey(),
  variant: text("variant").notNull(),
  exposedAt: integer("exposed_at").notNull(),
  conversionEvent: text("conversion_event").notNull(),
  windowMs: integer("window_ms").notNull(),
  openedAt: integer("opened_at"),
  clickedAt: integer("clicked_at"),
  convertedAt: integer("converted_at"),
  conversionMessageId: text("conversion_message_id"),
  revenue: real("revenue").notNull().default(0),
  revision: integer("revision").notNull(),
});

/**
 * The actor's own name (`user:42`), for an actor that holds no profile yet
 * knows whom it is about (a recipient exposed to an experiment before any
 * event of theirs arrived): its outbox runs are sent under this name.
 */
export const actorName = sqliteTable("actor_name", {
  id: integer("id").primaryKey(),
  name: text("name").notNull(),
});

/**
 * Singleton (`id = 1`): the person's computed-trait buckets, event-condition
 * recency lists, the state ids kept up to date and when the audiences are
 * next due by time alone (model/segment-state.ts `encodeSegmentState`), as
 * one compact JSON text — one row written per batch, however many traits.
 */
export const segmentState = sqliteTable("segment_state", {
  id: integer("id").primaryKey(),
  state: text("state").notNull(),
});

/** The audiences this person is in now, since when. */
export const audienceMembers = sqliteTable("audience_members", {
  audience: text("audience").primaryKey(),
  enteredAt: integer("entered_at").notNull(),
});

/**
 * Audience transitions waiting to reach a webhook destination, in order;
 * a row goes once delivered, or after its last attempt (a dead letter,
 * reported to the warehouse).
 */
export const webhookDeliveries = sqliteTable(
  "webhook_deliveries",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    messageId: text("message_id").notNull(),
    audience: text("audience").notNull(),
    url: text("url").notNull(),
    body: text("body").notNull(),
    attempts: integer("attempts").notNull(),
    nextAt: integer("next_at").notNull(),
    lastError: text("last_error"),
  },
  (t) => [index("webhook_deliveries_next_at").on(t.nextAt)],
);
