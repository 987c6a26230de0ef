/**
 * D1 tables of data quality and observability (DESIGN §9), beside the
 * warehouse's own (`sink/warehouse-schema.ts`; both feed `npm run
 * db:generate`): the tracking plan and the violations it found, quality-check
 * runs, the global metric counters behind `GET /metrics` and their per-minute
 * history, alert incidents,
 * and the audit of operator merges.
 *
 * Rows that name a person (violation samples, merge audit) record whose they
 * are in their own columns, so erasure and export select them by owner.
 */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/** Every plan ever saved; the newest row is the plan in force (`plan` null: removed). */
export const trackingPlans = sqliteTable("tracking_plans", {
  version: integer("version").primaryKey({ autoIncrement: true }),
  /** The plan as saved (JSON), or null when it was deleted. */
  plan: text("plan"),
  createdAt: integer("created_at").notNull(),
});

/** Violations counted per plan version, event, property and kind. */
export const trackingPlanViolations = sqliteTable(
  "tracking_plan_violations",
  {
    planVersion: integer("plan_version").notNull(),
    event: text("event").notNull(),
    /** Dotted property path; "" for the event itself (unplanned). */
    property: text("property").notNull(),
    kind: text("kind").notNull(),
    count: integer("count").notNull(),
    lastAt: integer("last_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.planVersion, t.event, t.property, t.kind] })],
);

/** The messages that broke the plan (newest kept, capped per event): what was sent and what was wrong. */
export const trackingPlanSamples = sqliteTable(
  "tracking_plan_samples",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    receivedAt: integer("received_at").notNull(),
    planVersion: integer("plan_version").notNull(),
    messageId: text("message_id").notNull(),
    type: text("type").notNull(),
    event: text("event").notNull(),
    /** `flag` (stored, marked) or `block` (quarantined). */
    action: text("action").notNull(),
    violations: text("violations").notNull(),
    userId: text("user_id"),
    anonymousId: text("anonymous_id"),
  },
  (t) => [
    index("tracking_plan_samples_event").on(t.event, t.id),
    index("tracking_plan_samples_received").on(t.receivedAt),
    index("tracking_plan_samples_user").on(t.userId),
    index("tracking_plan_samples_anonymous").on(t.anonymousId),
  ],
);

/** Quality-check runs: daily by Cron, on demand by `POST /v1/quality/runs`, or `npm run quality`. */
export const qualityRuns = sqliteTable(
  "quality_runs",
  {
    id: text("id").primaryKey(),
    trigger: text("trigger").notNull(),
    startedAt: integer("started_at").notNull(),
    finishedAt: integer("finished_at"),
    /** `running`, then `pass` / `warn` / `fail` (the worst check), or `error` when the run itself broke. */
    status: text("status").notNull(),
    checks: text("checks"),
    error: text("error"),
  },
  (t) => [index("quality_runs_started").on(t.startedAt)],
);

/**
 * Counters and histogram buckets summed over every isolate: each isolate adds
 * what it counted since its last flush. `labels` is the Prometheus label set
 * as written in the exposition (`{route="merge",le="0.05"}`), "" for none.
 */
export const metricCounters = sqliteTable(
  "metric_counters",
  {
    name: text("name").notNull(),
    labels: text("labels").notNull(),
    value: real("value").notNull(),
  },
  (t) => [primaryKey({ columns: [t.name, t.labels] })],
);

/** Alert incidents: at most one open per key, so each is announced once when it opens and once when it ends. */
export const alertIncidents = sqliteTable(
  "alert_incidents",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    /** What is wrong: `check:<name>`, `sink_lag`, `dead_letters`. */
    key: text("key").notNull(),
    openedAt: integer("opened_at").notNull(),
    resolvedAt: integer("resolved_at"),
    summary: text("summary").notNull(),
  },
  (t) => [
    uniqueIndex("alert_incidents_open").on(t.key).where(sql`resolved_at IS NULL`),
    index("alert_incidents_opened").on(t.openedAt),
  ],
);

/** Operator merges of two known people (`POST /v1/profiles/merge`): who asked, what, and how it ended. */
export const profileMerges = sqliteTable(
  "profile_merges",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    fromProfile: text("from_profile").notNull(),
    intoProfile: text("into_profile").notNull(),
    /** A fingerprint of the API key that asked (never the key). */
    requestedBy: text("requested_by").notNull(),
    reason: text("reason"),
    requestedAt: integer("requested_at").notNull(),
    finishedAt: integer("finished_at"),
    status: text("status").notNull(),
  },
  (t) => [index("profile_merges_from").on(t.fromProfile), index("profile_merges_into").on(t.intoProfile)],
);

/**
 * Per-minute history of the service's metrics, for the console's charts and
 * `GET /v1/metrics/series`: counters as what was added in that minute (by
 * every isolate's flush), gauges as sampled by the every-minute cron. Kept
 * for `METRIC_MINUTES_KEPT` and pruned by the same cron.
 */
export const metricMinutes = sqliteTable(
  "metric_minutes",
  {
    /** Start of the minute, epoch ms. */
    minute: integer("minute").notNull(),
    name: text("name").notNull(),
    labels: text("labels").notNull(),
    value: real("value").notNull(),
  },
  (t) => [primaryKey({ columns: [t.minute, t.name, t.labels] })],
);
