/**
 * Writes a consumer batch into the D1 warehouse and the R2 raw lake with
 * exactly-once effect under at-least-once delivery (DESIGN §4):
 *
 * - events are inserted once by `messageId` (a repeat does nothing); profiles, sessions and
 *   affinities are upserted under a version guard, so a redelivered or
 *   out-of-order change never overwrites a newer one;
 * - the lake write claims the batch's events that no object holds yet
 *   (`lake_key`), in the same atomic D1 batch as the inserts, then puts them
 *   as one NDJSON object under that key. An object's content is exactly the
 *   events claimed with its key, so a redelivery that finds a claimed key
 *   without its object rebuilds the object from D1: no line lost, none twice.
 *
 * Each table takes one statement per batch: rows travel as a single JSON
 * parameter unpacked by `json_each`, far under D1's 100-parameter limit.
 */
import { type SQL, sql } from "drizzle-orm";
import { SQLiteAsyncDialect } from "drizzle-orm/sqlite-core";
import { chunkByJsonSize, type WarehouseRows } from "../model/warehouse-rows";

/**
 * The statements are drizzle `sql` templates (parameters bound, never
 * spliced) run through D1's own `batch`: drizzle's `db.batch` cannot carry raw
 * statements that have parameters.
 */
const dialect = new SQLiteAsyncDialect();

export function prepare(d1: D1Database, statement: SQL): D1PreparedStatement {
  const query = dialect.sqlToQuery(statement);
  return d1.prepare(query.sql).bind(...query.params);
}

const col = (i: number) => sql.raw(`json_extract(j.value, '$[${i}]')`);

function insertEvents(json: string, now: number): SQL {
  // ON CONFLICT rather than OR IGNORE: a duplicate is skipped, a broken row still fails loudly.
  return sql`INSERT INTO events (message_id, profile_id, user_id, anonymous_id, type, name, timestamp,
      received_at, session_number, product_id, revenue, properties, traits, context, lake_key, loaded_at)
    SELECT ${col(0)}, ${col(1)}, ${col(2)}, ${col(3)}, ${col(4)}, ${col(5)}, ${col(6)}, ${col(7)}, ${col(8)},
      ${col(9)}, ${col(10)}, ${col(11)}, ${col(12)}, ${col(13)}, NULL, ${now}
    FROM json_each(${json}) AS j WHERE true
    ON CONFLICT (message_id) DO NOTHING`;
}

function upsertProfiles(json: string, now: number, withTraits: boolean): SQL {
  const traits = withTraits ? sql.raw("traits = excluded.traits,") : sql.raw("");
  // `WHERE true` keeps SQLite from reading ON CONFLICT as part of the SELECT's join.
  return sql`INSERT INTO profiles (profile_id, user_id, anonymous_ids, traits, group_ids, first_seen, last_seen,
      event_count, session_count, version, updated_at)
    SELECT ${col(0)}, ${col(1)}, ${col(2)}, ${col(3)}, ${col(4)}, ${col(5)}, ${col(6)}, ${col(7)}, ${col(8)},
      ${col(9)}, ${now}
    FROM json_each(${json}) AS j WHERE true
    ON CONFLICT (profile_id) DO UPDATE SET user_id = excluded.user_id, anonymous_ids = excluded.anonymous_ids,
      ${traits} group_ids = excluded.group_ids, first_seen = excluded.first_seen, last_seen = excluded.last_seen,
      event_count = excluded.event_count, session_count = excluded.session_count, version = excluded.version,
      updated_at = excluded.updated_at
    WHERE excluded.version > profiles.version`;
}

function upsertSessions(json: string): SQL {
  return sql`INSERT INTO sessions (profile_id, number, started_at, ended_at, events, pages, revenue, landing_page, version)
    SELECT ${col(0)}, ${col(1)}, ${col(2)}, ${col(3)}, ${col(4)}, ${col(5)}, ${col(6)}, ${col(7)}, ${col(8)}
    FROM json_each(${json}) AS j WHERE true
    ON CONFLICT (profile_id, number) DO UPDATE SET started_at = excluded.started_at, ended_at = excluded.ended_at,
      events = excluded.events, pages = excluded.pages, revenue = excluded.revenue,
      landing_page = excluded.landing_page, version = excluded.version
    WHERE excluded.version > sessions.version`;
}

function upsertAffinities(json: string): SQL {
  return sql`INSERT INTO profile_affinities (profile_id, dimension, score, as_of, version)
    SELECT ${col(0)}, ${col(1)}, ${col(2)}, ${col(3)}, ${col(4)}
    FROM json_each(${json}) AS j WHERE true
    ON CONFLICT (profile_id, dimension) DO UPDATE SET score = excluded.score, as_of = excluded.as_of,
      version = excluded.version
    WHERE excluded.version > profile_affinities.version`;
}

function upsertExposures(json: string, now: number): SQL {
  return sql`INSERT INTO experiment_exposures (experiment_id, profile_id, variant, exposed_at, opened_at, clicked_at,
      converted_at, conversion_message_id, revenue, merged_into, revision, updated_at)
    SELECT ${col(0)}, ${col(1)}, ${col(2)}, ${col(3)}, ${col(4)}, ${col(5)}, ${col(6)}, ${col(7)}, ${col(8)},
      ${col(9)}, ${col(10)}, ${now}
    FROM json_each(${json}) AS j WHERE true
    ON CONFLICT (experiment_id, profile_id) DO UPDATE SET variant = excluded.variant,
      exposed_at = excluded.exposed_at, opened_at = excluded.opened_at, clicked_at = excluded.clicked_at,
      converted_at = excluded.converted_at, conversion_message_id = excluded.conversion_message_id,
      revenue = excluded.revenue, merged_into = excluded.merged_into, revision = excluded.revision,
      updated_at = excluded.updated_at
    WHERE excluded.revision > experiment_exposures.revision`;
}

/** An exit is set once: a redelivered entry never reopens a stint that ended. */
function upsertAudienceMemberships(json: string, now: number): SQL {
  return sql`INSERT INTO audience_memberships (audience_key, profile_id, entered_at, exited_at, updated_at)
    SELECT ${col(0)}, ${col(1)}, ${col(2)}, ${col(3)}, ${now}
    FROM json_each(${json}) AS j WHERE true
    ON CONFLICT (audience_key, profile_id, entered_at) DO UPDATE SET
      exited_at = COALESCE(audience_memberships.exited_at, excluded.exited_at), updated_at = excluded.updated_at
    WHERE audience_memberships.exited_at IS NULL AND excluded.exited_at IS NOT NULL`;
}

function upsertDeliveries(json: string): SQL {
  return sql`INSERT INTO audience_deliveries (message_id, destination, audience_key, profile_id, status, attempts,
      last_error, body, at)
    SELECT ${col(0)}, ${col(1)}, ${col(2)}, ${col(3)}, ${col(4)}, ${col(5)}, ${col(6)}, ${col(7)}, ${col(8)}
    FROM json_each(${json}) AS j WHERE true
    ON CONFLICT (message_id, destination) DO NOTHING`;
}

/** Adds the row count of the statement just before it to a counter (`changes()` of the same connection). */
function countChanges(name: string): SQL {
  return sql`INSERT INTO sink_stats (name, value) VALUES (${name}, changes())
    ON CONFLICT (name) DO UPDATE SET value = sink_stats.value + excluded.value`;
}

export function addToCounters(values: Record<string, number>): SQL {
  return sql`INSERT INTO sink_stats (name, value)
    SELECT json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]') FROM json_each(${JSON.stringify(Object.entries(values))}) AS j WHERE true
    ON CONFLICT (name) DO UPDATE SET value = sink_stats.value + excluded.value`;
}

function setGauges(values: Record<string, number>): SQL {
  return sql`INSERT INTO sink_stats (name, value)
    SELECT json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]') FROM json_each(${JSON.stringify(Object.entries(values))}) AS j WHERE true
    ON CONFLICT (name) DO UPDATE SET value = excluded.value`;
}

/** Columns of an event's raw lake line, in the order they are written. */
const LAKE_COLUMNS = sql.raw(
  "message_id, profile_id, user_id, anonymous_id, type, name, timestamp, received_at, session_number, properties, traits, context",
);

interface LakeRow {
  message_id: string;
  profile_id: string;
  user_id: string | null;
  anonymous_id: string | null;
  type: string;
  name: string | null;
  timestamp: number;
  received_at: number;
  session_number: number | null;
  properties: string;
  traits: string;
  context: string;
}

/** An ISO time as a JSON string, or `null` for a value no Date can hold (never throws). */
function isoOrNull(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? "null" : `"${d.toISOString()}"`;
}

/** One NDJSON line; the JSON columns are spliced in as stored, not re-serialized. */
export function lakeLine(r: LakeRow): string {
  return `{"messageId":${JSON.stringify(r.message_id)},"profileId":${JSON.stringify(r.profile_id)},"userId":${JSON.stringify(
    r.user_id,
  )},"anonymousId":${JSON.stringify(r.anonymous_id)},"type":${JSON.stringify(r.type)},"event":${JSON.stringify(
    r.name,
  )},"timestamp":${isoOrNull(r.timestamp)},"receivedAt":${isoOrNull(r.received_at)},"sessionNumber":${
    r.session_number ?? "null"
  },"properties":${r.properties},"traits":${r.traits},"context":${r.context}}`;
}

/** `raw/events/dt=2026-12-02/hour=09/<id>.ndjson`: Hive-style partitions by the time the batch was written. */
export function lakeKeyFor(now: number, id: string): string {
  const iso = new Date(now).toISOString();
  return `raw/events/dt=${iso.slice(0, 10)}/hour=${iso.slice(11, 13)}/${id}.ndjson`;
}

export interface WriteResult {
  statements: number;
  lakeObjects: number;
  lakeLines: number;
}

/** Applies a batch's rows to D1 and the lake; throws (leaving everything retryable) on any failure. */
export async function writeWarehouse(
  d1: D1Database,
  lake: R2Bucket,
  rows: WarehouseRows,
  now: number,
  batchId: string,
): Promise<WriteResult> {
  const key = lakeKeyFor(now, batchId);
  const messageIds = JSON.stringify(rows.events.map((e) => e[0]));
  const statements: SQL[] = [];
  for (const json of chunkByJsonSize(rows.events)) statements.push(insertEvents(json, now), countChanges("events"));
  for (const json of chunkByJsonSize(rows.profiles))
    statements.push(upsertProfiles(json, now, true), countChanges("profiles"));
  for (const json of chunkByJsonSize(rows.profilesWithoutTraits)) {
    statements.push(upsertProfiles(json, now, false), countChanges("profiles"));
  }
  for (const json of chunkByJsonSize(rows.sessions)) statements.push(upsertSessions(json), countChanges("sessions"));
  for (const json of chunkByJsonSize(rows.affinities))
    statements.push(upsertAffinities(json), countChanges("affinities"));
  for (const json of chunkByJsonSize(rows.exposures))
    statements.push(upsertExposures(json, now), countChanges("experiment_exposures"));
  for (const json of chunkByJsonSize(rows.audienceMemberships))
    statements.push(upsertAudienceMemberships(json, now), countChanges("audience_memberships"));
  for (const json of chunkByJsonSize(rows.deliveries))
    statements.push(upsertDeliveries(json), countChanges("audience_deliveries"));

  const claimAt = statements.length;
  if (rows.events.length > 0) {
    statements.push(
      sql`UPDATE events SET lake_key = ${key}
        WHERE lake_key IS NULL AND message_id IN (SELECT value FROM json_each(${messageIds}))
        RETURNING ${LAKE_COLUMNS}`,
      sql`SELECT DISTINCT lake_key FROM events
        WHERE message_id IN (SELECT value FROM json_each(${messageIds})) AND lake_key IS NOT NULL AND lake_key <> ${key}`,
    );
  }
  const gauges: Record<string, number> = { last_batch_at: now };
  if (rows.oldestChangeAt !== null) gauges.last_lag_ms = Math.max(0, now - rows.oldestChangeAt);
  statements.push(setGauges(gauges));
  // Counts this batch's statements, including the counter statement that follows.
  const total = statements.length + 1;
  statements.push(addToCounters({ batches: 1, statements: total }));

  const results = (await d1.batch(statements.map((s) => prepare(d1, s)))).map((r) => r.results ?? []);

  let lakeObjects = 0;
  let lakeLines = 0;
  if (rows.events.length > 0) {
    const claimed = (results[claimAt] ?? []) as unknown as LakeRow[];
    if (claimed.length > 0) {
      await putLakeObject(lake, key, claimed);
      lakeObjects += 1;
      lakeLines += claimed.length;
    }
    // Keys claimed by an earlier delivery of these events: rebuild any whose object never landed.
    const earlier = (results[claimAt + 1] ?? []) as unknown as { lake_key: string }[];
    for (const { lake_key } of earlier) {
      if (await lake.head(lake_key)) continue;
      const { results: lines } = await prepare(
        d1,
        sql`SELECT ${LAKE_COLUMNS} FROM events WHERE lake_key = ${lake_key} ORDER BY message_id`,
      ).all<LakeRow>();
      await putLakeObject(lake, lake_key, lines);
      lakeObjects += 1;
      lakeLines += lines.length;
    }
  }
  return { statements: total, lakeObjects, lakeLines };
}

async function putLakeObject(lake: R2Bucket, key: string, rows: readonly LakeRow[]) {
  const body = `${[...rows]
    .sort((a, b) => a.message_id.localeCompare(b.message_id))
    .map(lakeLine)
    .join("\n")}\n`;
  await lake.put(key, body, {
    httpMetadata: { contentType: "application/x-ndjson" },
    customMetadata: { lines: String(rows.length) },
  });
}
