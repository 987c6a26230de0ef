/**
 * The operator's view of the pipeline (secret API key): `GET /v1/sink/status`
 * (rows per warehouse table, the consumer's last batch and lag, dead
 * letters), the raw lake's objects and their content, and the dead letters
 * themselves.
 */
import { desc, sql } from "drizzle-orm";
import { Hono } from "hono";
import { sinkBuffer } from "../actors/client";
import { SINK_BUFFER_SHARDS, type SinkBufferStatus } from "../actors/sink-buffer";
import { warehouseDb } from "../catalog/store";
import { settingsOf } from "../model/settings";
import { consumerInProgress } from "../sink/batch-progress";
import { IDENTITY_CONFLICT_COUNTERS } from "../sink/identity-conflicts";
import { kafkaConfig } from "../sink/kafka";
import { deadLetters, sinkStats } from "../sink/warehouse-schema";
import type { AppEnv } from "./app-env";
import { requireApiKey } from "./auth";
import { ApiError } from "./errors";
import { limitParam, resolveProfile } from "./profiles";

export const sinkRoutes = new Hono<AppEnv>();
sinkRoutes.use("/v1/sink/*", requireApiKey());

interface TableCounts {
  events: number;
  profiles: number;
  sessions: number;
  affinities: number;
  bad_events: number;
  dead_letters: number;
  events_pending_lake: number;
}

sinkRoutes.get("/v1/sink/status", async (c) => {
  const db = warehouseDb(c.env.WAREHOUSE);
  const [counts, stats] = await db.batch([
    db.get<TableCounts>(sql`SELECT
      (SELECT COUNT(*) FROM events) AS events,
      (SELECT COUNT(*) FROM profiles) AS profiles,
      (SELECT COUNT(*) FROM sessions) AS sessions,
      (SELECT COUNT(*) FROM profile_affinities) AS affinities,
      (SELECT COUNT(*) FROM bad_events) AS bad_events,
      (SELECT COUNT(*) FROM dead_letters) AS dead_letters,
      (SELECT COUNT(*) FROM events WHERE lake_key IS NULL) AS events_pending_lake`),
    db.select().from(sinkStats),
  ]);
  const stat = new Map(stats.map((s) => [s.name, s.value]));
  const lastBatchAt = stat.get("last_batch_at");
  // With SINK_COALESCE_MS the runs wait in the sink buffers before the Queue: what each holds and whether it is sending.
  const buffers: SinkBufferStatus[] | null =
    settingsOf(c.env).sinkCoalesceMs === null
      ? null
      : await Promise.all(Array.from({ length: SINK_BUFFER_SHARDS }, (_, i) => sinkBuffer(c.env, i).status()));
  return c.json({
    tables: counts,
    written: {
      events: stat.get("events") ?? 0,
      profiles: stat.get("profiles") ?? 0,
      sessions: stat.get("sessions") ?? 0,
      affinities: stat.get("affinities") ?? 0,
      experimentExposures: stat.get("experiment_exposures") ?? 0,
    },
    consumer: {
      batches: stat.get("batches") ?? 0,
      statements: stat.get("statements") ?? 0,
      lastBatchAt: lastBatchAt ? new Date(lastBatchAt).toISOString() : null,
      /** Age of the oldest change in the last batch when it was written. */
      lastLagMs: stat.get("last_lag_ms") ?? null,
      /** The batch this isolate is applying, if any, and its step: a step that never ends stops the Queue. */
      inProgress: consumerInProgress(),
    },
    buffers,
    deadLetters: counts?.dead_letters ?? 0,
    /** Events dropped because a regulation suppressed their identity. */
    suppressedEvents: stat.get("suppressed_events") ?? 0,
    /** Refused identity claims pruned from their record (beyond the cap, past retention). */
    identityConflicts: {
      evicted: stat.get(IDENTITY_CONFLICT_COUNTERS.evicted) ?? 0,
      expired: stat.get(IDENTITY_CONFLICT_COUNTERS.expired) ?? 0,
    },
    kafka: { enabled: kafkaConfig(c.env) !== null },
  });
});

const LAKE_PREFIX = "raw/events/";

sinkRoutes.get("/v1/sink/lake", async (c) => {
  const prefix = c.req.query("prefix") ?? LAKE_PREFIX;
  if (!prefix.startsWith(LAKE_PREFIX)) {
    throw new ApiError(400, "invalid_prefix", `prefix must start with ${LAKE_PREFIX}`);
  }
  // `include` is honoured by the runtime but missing from the R2ListOptions type.
  const options: R2ListOptions & { include: string[] } = {
    prefix,
    cursor: c.req.query("cursor") || undefined,
    limit: limitParam(c.req.query("limit"), 1000, 1000),
    include: ["customMetadata"],
  };
  const listed = await c.env.LAKE.list(options);
  return c.json({
    objects: listed.objects.map((o) => ({
      key: o.key,
      size: o.size,
      lines: Number(o.customMetadata?.lines ?? 0),
      uploaded: o.uploaded.toISOString(),
    })),
    cursor: listed.truncated ? listed.cursor : null,
  });
});

sinkRoutes.get("/v1/sink/lake/object", async (c) => {
  const key = c.req.query("key") ?? "";
  if (!key.startsWith(LAKE_PREFIX)) throw new ApiError(400, "invalid_key", `key must start with ${LAKE_PREFIX}`);
  const object = await c.env.LAKE.get(key);
  if (!object) throw new ApiError(404, "object_not_found", `no lake object ${key.slice(0, 200)}`);
  return new Response(object.body, { headers: { "content-type": "application/x-ndjson" } });
});

/** One person's outbox: records not yet confirmed by the consumer (of them, those sent), and when the actor's alarm is due. */
sinkRoutes.get("/v1/sink/outbox/:id", async (c) => {
  const resolved = await resolveProfile(c.env, c.req.param("id"));
  if (!resolved.ok) throw new ApiError(400, "invalid_profile_id", resolved.reason);
  const status = await resolved.profile.stub.outboxStatus();
  return c.json({
    pending: status.pending,
    unconfirmed: status.unconfirmed,
    oldestAt: status.oldestAt === null ? null : new Date(status.oldestAt).toISOString(),
    alarmAt: status.alarmAt === null ? null : new Date(status.alarmAt).toISOString(),
  });
});

sinkRoutes.get("/v1/sink/dead-letters", async (c) => {
  const limit = limitParam(c.req.query("limit"), 50, 500);
  const db = warehouseDb(c.env.WAREHOUSE);
  const rows = await db.select().from(deadLetters).orderBy(desc(deadLetters.id)).limit(limit);
  return c.json({
    deadLetters: rows.map((r) => ({ ...r, receivedAt: new Date(r.receivedAt).toISOString() })),
  });
});
