/**
 * The quality checks (DESIGN §9), each a few bounded queries of the D1
 * warehouse (and a listing of the R2 lake) graded by model/quality-checks.ts:
 *
 * - completeness: identify calls without an e-mail, product events without a price;
 * - validity: e-mail addresses a browser would refuse, prices out of line with their product's;
 * - freshness: the sink's lag, and how long events took from arrival to the warehouse;
 * - volume: each event name's last 24 hours against the 7 days before (modified z-score);
 * - reconciliation: the lake's lines against the warehouse's rows, per hour;
 * - duplicate people: pairs of profiles that look like one person.
 *
 * Windows end at the run's `now`: "today" is the last 24 hours, so a run at
 * any time of day compares like with like.
 */
import type { Env } from "../env";
import { findDuplicates } from "../model/duplicates";
import {
  type CheckResult,
  grade,
  isValidEmail,
  priceOutliers,
  reconcileHours,
  type Threshold,
  volumeAnomalies,
} from "../model/quality-checks";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const SAMPLE = 5;

/** Segment e-commerce v2 events that carry one product's price. */
export const PRODUCT_EVENTS = ["Product Viewed", "Product Clicked", "Product Added", "Product Removed"] as const;

/** Rows a check reads into the Worker at most: the checks' memory and time stay bounded on any warehouse. */
const MAX_ROWS = 20_000;
/** Profiles compared for duplicates, newest first. */
export const DUPLICATE_PROFILES = 5_000;

export const THRESHOLDS = {
  identifyEmailMissing: { warn: 0.05, fail: 0.25, direction: "above" },
  productPriceMissing: { warn: 0.01, fail: 0.05, direction: "above" },
  invalidEmails: { warn: 0, fail: 0.01, direction: "above" },
  priceOutliers: { warn: 0, fail: 0.01, direction: "above" },
  sinkLagSeconds: { warn: 60, fail: 300, direction: "above" },
  arrivalToWarehouseSeconds: { warn: 60, fail: 600, direction: "above" },
  volumeAnomalies: { warn: 0, fail: 0, direction: "above" },
  lakeMismatchedHours: { warn: 0, fail: 0, direction: "above" },
  duplicatePairs: { warn: 0, fail: Number.POSITIVE_INFINITY, direction: "above" },
} as const satisfies Record<string, Threshold>;

const PRODUCT_LIST = `(${PRODUCT_EVENTS.map((n) => `'${n}'`).join(", ")})`;

async function all<T>(env: Env, query: string, ...params: unknown[]): Promise<T[]> {
  return (
    await env.WAREHOUSE.prepare(query)
      .bind(...params)
      .all<T>()
  ).results;
}

function result(
  check: string,
  observed: number | null,
  threshold: Threshold,
  unit: string,
  detail: string,
  sample: unknown[],
): CheckResult {
  return { check, status: grade(observed, threshold), observed, threshold, unit, detail, sample };
}

const share = (part: number, total: number) => (total === 0 ? null : part / total);
const percent = (v: number | null) => (v === null ? "—" : `${(v * 100).toFixed(2)}%`);

/**
 * A completeness check: the share of today's rows in `scope` for which
 * `missing` holds, and the newest few of them.
 */
async function missingShare(
  env: Env,
  now: number,
  spec: {
    check: string;
    threshold: Threshold;
    scope: string;
    missing: string;
    columns: string;
    describe: (missing: number, total: number, share: string) => string;
  },
): Promise<CheckResult> {
  const where = `${spec.scope} AND timestamp >= ? AND timestamp < ?`;
  const [counts] = await all<{ total: number; missing: number | null }>(
    env,
    `SELECT COUNT(*) AS total, SUM(CASE WHEN ${spec.missing} THEN 1 ELSE 0 END) AS missing FROM events WHERE ${where}`,
    now - DAY,
    now,
  );
  const total = counts?.total ?? 0;
  const missing = counts?.missing ?? 0;
  const sample = missing
    ? await all(
        env,
        `SELECT ${spec.columns} FROM events WHERE ${where} AND (${spec.missing}) ORDER BY timestamp DESC LIMIT ${SAMPLE}`,
        now - DAY,
        now,
      )
    : [];
  const observed = share(missing, total);
  return result(
    spec.check,
    observed,
    spec.threshold,
    "share",
    spec.describe(missing, total, percent(observed)),
    sample,
  );
}

const identifyEmails = (env: Env, now: number) =>
  missingShare(env, now, {
    check: "completeness.identify_email",
    threshold: THRESHOLDS.identifyEmailMissing,
    scope: "type = 'identify'",
    missing: "COALESCE(trim(json_extract(traits, '$.email')), '') = ''",
    columns: "message_id AS messageId, profile_id AS profileId, timestamp",
    describe: (missing, total, p) => `${missing} of ${total} identify calls in the last 24 hours had no e-mail (${p})`,
  });

const productPrices = (env: Env, now: number) =>
  missingShare(env, now, {
    check: "completeness.product_price",
    threshold: THRESHOLDS.productPriceMissing,
    scope: `type = 'track' AND name IN ${PRODUCT_LIST}`,
    missing: "json_type(properties, '$.price') IS NULL OR json_type(properties, '$.price') NOT IN ('integer', 'real')",
    columns: "message_id AS messageId, profile_id AS profileId, name AS event, product_id AS productId, timestamp",
    describe: (missing, total, p) =>
      `${missing} of ${total} product events in the last 24 hours had no numeric price (${p})`,
  });

async function emailSyntax(env: Env, now: number): Promise<CheckResult> {
  const rows = await all<{ messageId: string; profileId: string; email: unknown }>(
    env,
    `SELECT message_id AS messageId, profile_id AS profileId, json_extract(traits, '$.email') AS email
     FROM events WHERE type = 'identify' AND timestamp >= ? AND timestamp < ?
       AND COALESCE(trim(json_extract(traits, '$.email')), '') <> '' LIMIT ${MAX_ROWS}`,
    now - DAY,
    now,
  );
  const invalid = rows.filter((r) => typeof r.email !== "string" || !isValidEmail(r.email));
  const observed = share(invalid.length, rows.length);
  return result(
    "validity.email",
    observed,
    THRESHOLDS.invalidEmails,
    "share",
    `${invalid.length} of ${rows.length} e-mail addresses sent in the last 24 hours are not valid addresses`,
    // The address itself stays out of the report: the profile and message say where to look.
    invalid.slice(0, SAMPLE).map((r) => ({ messageId: r.messageId, profileId: r.profileId })),
  );
}

async function prices(env: Env, now: number): Promise<CheckResult> {
  const rows = await all<{ messageId: string; productId: string | null; price: number }>(
    env,
    `SELECT message_id AS messageId, product_id AS productId, json_extract(properties, '$.price') AS price
     FROM events WHERE type = 'track' AND name IN ${PRODUCT_LIST} AND timestamp >= ? AND timestamp < ?
       AND json_type(properties, '$.price') IN ('integer', 'real') LIMIT ${MAX_ROWS}`,
    now - DAY,
    now,
  );
  const outliers = priceOutliers(rows);
  const observed = share(outliers.length, rows.length);
  return result(
    "validity.price",
    observed,
    THRESHOLDS.priceOutliers,
    "share",
    `${outliers.length} of ${rows.length} prices in the last 24 hours are negative or over ten times off their product's median`,
    outliers.slice(0, SAMPLE).map((o) => ({ messageId: rows[o.index]?.messageId, ...o, index: undefined })),
  );
}

async function sinkLag(env: Env, now: number): Promise<CheckResult> {
  const stats = await all<{ name: string; value: number }>(
    env,
    "SELECT name, value FROM sink_stats WHERE name IN ('last_lag_ms', 'last_batch_at')",
  );
  const stat = new Map(stats.map((s) => [s.name, s.value]));
  const lag = stat.get("last_lag_ms");
  const at = stat.get("last_batch_at");
  const observed = lag === undefined ? null : lag / 1000;
  return result(
    "freshness.sink_lag",
    observed,
    THRESHOLDS.sinkLagSeconds,
    "seconds",
    observed === null
      ? "the sink has applied no batch yet"
      : `the last batch's oldest change was ${observed.toFixed(1)} s old when written, ${((now - (at ?? now)) / 1000).toFixed(0)} s ago`,
    [],
  );
}

async function arrivalToWarehouse(env: Env, now: number): Promise<CheckResult> {
  const window = "timestamp >= ? AND timestamp < ?";
  const [counted] = await all<{ n: number }>(env, `SELECT COUNT(*) AS n FROM events WHERE ${window}`, now - HOUR, now);
  const n = counted?.n ?? 0;
  // The 95th percentile exactly, however many events the hour had: the row 5% from the slowest end.
  const slowest = await all<{ messageId: string; delay: number }>(
    env,
    `SELECT message_id AS messageId, loaded_at - received_at AS delay FROM events WHERE ${window}
     ORDER BY delay DESC LIMIT ${SAMPLE}`,
    now - HOUR,
    now,
  );
  const [at95] =
    n === 0
      ? []
      : await all<{ delay: number }>(
          env,
          `SELECT loaded_at - received_at AS delay FROM events WHERE ${window} ORDER BY delay DESC LIMIT 1 OFFSET ?`,
          now - HOUR,
          now,
          Math.floor(n * 0.05),
        );
  const p95 = at95 === undefined ? null : at95.delay / 1000;
  return result(
    "freshness.outbox_age",
    p95,
    THRESHOLDS.arrivalToWarehouseSeconds,
    "seconds",
    p95 === null
      ? "no events in the last hour"
      : `95% of the last hour's ${n} events reached the warehouse within ${p95.toFixed(1)} s of arriving`,
    slowest.map((r) => ({ messageId: r.messageId, seconds: r.delay / 1000 })),
  );
}

async function volume(env: Env, now: number): Promise<CheckResult> {
  const rows = await all<{ name: string; day: number; n: number }>(
    env,
    `SELECT CASE WHEN type = 'track' THEN name ELSE type END AS name, CAST((? - 1 - timestamp) / ${DAY} AS INTEGER) AS day, COUNT(*) AS n
     FROM events WHERE timestamp >= ? AND timestamp < ? GROUP BY 1, 2 LIMIT ${MAX_ROWS}`,
    now,
    now - 8 * DAY,
    now,
  );
  const series = new Map<string, { today: number; history: number[] }>();
  for (const r of rows) {
    if (r.name === null) continue;
    const s = series.get(r.name) ?? { today: 0, history: [0, 0, 0, 0, 0, 0, 0] };
    if (r.day === 0) s.today = r.n;
    else if (r.day >= 1 && r.day <= 7) s.history[7 - r.day] = r.n;
    series.set(r.name, s);
  }
  const found = volumeAnomalies(series);
  return result(
    "volume.anomaly",
    found.length,
    THRESHOLDS.volumeAnomalies,
    "event names",
    found.length === 0
      ? `${series.size} event names' last 24 hours are in line with the 7 days before`
      : found
          .slice(0, 3)
          .map(
            (f) =>
              `${f.name}: ${f.today} in the last 24 h against a median of ${f.median} (${Math.round(f.change * 100)}%)`,
          )
          .join("; "),
    found.slice(0, SAMPLE).map((f) => ({ ...f, z: Number.isFinite(f.z) ? Math.round(f.z * 100) / 100 : String(f.z) })),
  );
}

const LAKE_DAYS = 7;
/** Lake objects reconciled at most (their keys and counts are read into the Worker). */
const MAX_LAKE_OBJECTS = 100_000;
/** Objects written this recently may still be on their way (the sink claims a key, then puts the object). */
const SETTLING_MS = 2 * 60_000;

async function lakeObjects(env: Env, now: number): Promise<Map<string, number>> {
  const lines = new Map<string, number>();
  for (let d = LAKE_DAYS; d >= 0; d--) {
    const prefix = `raw/events/dt=${new Date(now - d * DAY).toISOString().slice(0, 10)}/`;
    let cursor: string | undefined;
    do {
      // `include` is honoured by the runtime but missing from the R2ListOptions type.
      const options: R2ListOptions & { include: string[] } = { prefix, cursor, include: ["customMetadata"] };
      const page = await env.LAKE.list(options);
      for (const o of page.objects) lines.set(o.key, Number(o.customMetadata?.lines ?? 0));
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor);
  }
  return lines;
}

async function reconciliation(env: Env, now: number): Promise<CheckResult> {
  const from = `raw/events/dt=${new Date(now - LAKE_DAYS * DAY).toISOString().slice(0, 10)}/`;
  const [rows, lake] = await Promise.all([
    all<{ key: string; n: number; loaded: number }>(
      env,
      `SELECT lake_key AS key, COUNT(*) AS n, MAX(loaded_at) AS loaded FROM events
       WHERE lake_key >= ? GROUP BY lake_key LIMIT ${MAX_LAKE_OBJECTS}`,
      from,
    ),
    lakeObjects(env, now),
  ]);
  const settled = rows.filter((r) => r.loaded < now - SETTLING_MS);
  const recent = new Set(rows.filter((r) => r.loaded >= now - SETTLING_MS).map((r) => r.key));
  const warehouse = new Map(settled.map((r) => [r.key, r.n]));
  for (const key of recent) lake.delete(key);
  const mismatched = reconcileHours(warehouse, lake);
  const hours = new Set([...warehouse.keys(), ...lake.keys()].map((k) => /dt=[^/]+\/hour=\d{2}/.exec(k)?.[0]));
  return result(
    "reconciliation.lake",
    mismatched.length,
    THRESHOLDS.lakeMismatchedHours,
    "hours",
    mismatched.length === 0
      ? `the lake's lines equal the warehouse's rows in all ${hours.size} hours of the last ${LAKE_DAYS} days`
      : `${mismatched.length} of ${hours.size} hours disagree: ${mismatched
          .slice(0, 3)
          .map((m) => `${m.hour} lake ${m.lake} / warehouse ${m.warehouse}`)
          .join("; ")}`,
    mismatched.slice(0, SAMPLE).map((m) => ({ ...m, missingObjects: m.missingObjects.slice(0, 10) })),
  );
}

async function duplicates(env: Env): Promise<CheckResult> {
  const people = await duplicateCandidates(env);
  const pairs = findDuplicates(people, { limit: 1000 });
  return result(
    "duplicates.people",
    pairs.length,
    THRESHOLDS.duplicatePairs,
    "pairs",
    `${pairs.length} pairs among the ${people.length} newest profiles look like one person (GET /v1/quality/duplicates)`,
    pairs.slice(0, SAMPLE),
  );
}

/** The traits the matcher reads (model/duplicates.ts): only these leave D1, however large a profile's traits. */
const MATCHED_TRAITS = ["email", "phone", "name", "firstName", "first_name", "lastName", "last_name", "address"];
const matchedTraits = `json_object(${MATCHED_TRAITS.map((t) => `'${t}', json_extract(traits, '$.${t}')`).join(", ")})`;

/**
 * The profiles the duplicate search compares: the newest known users (only
 * they can be merged) that hold any traits, leaving out the users already
 * merged into someone.
 */
export async function duplicateCandidates(env: Env) {
  const rows = await all<{ profileId: string; traits: string }>(
    env,
    `SELECT profile_id AS profileId, ${matchedTraits} AS traits FROM profiles
     WHERE user_id IS NOT NULL AND traits <> '{}'
       AND profile_id NOT IN (SELECT from_profile FROM profile_merges WHERE status = 'merged')
     ORDER BY updated_at DESC LIMIT ${DUPLICATE_PROFILES}`,
  );
  return rows.map((r) => ({ profileId: r.profileId, traits: parseTraits(r.traits) }));
}

function parseTraits(text: string): Record<string, unknown> {
  try {
    const value = JSON.parse(text);
    return value && typeof value === "object" && !Array.isArray(value) ? value : {};
  } catch {
    return {};
  }
}

export const CHECKS: readonly [string, (env: Env, now: number) => Promise<CheckResult>][] = [
  ["completeness.identify_email", identifyEmails],
  ["completeness.product_price", productPrices],
  ["validity.email", emailSyntax],
  ["validity.price", prices],
  ["freshness.sink_lag", sinkLag],
  ["freshness.outbox_age", arrivalToWarehouse],
  ["volume.anomaly", volume],
  ["reconciliation.lake", reconciliation],
  ["duplicates.people", (env) => duplicates(env)],
];
