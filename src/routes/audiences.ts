/**
 * Audiences API (DESIGN §8), secret API key: define an audience by a rule
 * and its webhook destinations (a new or changed rule starts a backfill over
 * every profile the warehouse lists), list audiences with their sizes, read
 * one with its backfill progress and delivery report, page through its
 * members, its size over time and newest transitions, its webhook
 * deliveries, delete it. Sizes and members come from the warehouse, as fresh
 * as the sink; each person's own audiences are on their profile.
 */
import { Hono } from "hono";
import { startAudienceBackfill } from "../audiences/backfill";
import { invalidateDefinitions } from "../audiences/cache";
import { audienceDeliveryPage, audienceHistory, decodeDeliveryCursor } from "../audiences/history";
import {
  audienceMembers,
  audienceSize,
  audienceSizes,
  decodeCursor,
  deleteAudience,
  deliveryReport,
  getAudience,
  listAudiences,
  listComputedTraits,
  putAudience,
  type StoredAudience,
} from "../audiences/store";
import { warehouseDb } from "../catalog/store";
import { type Bucket, MAX_HISTORY_DAYS, MAX_HOURLY_DAYS, periodOf } from "../model/audience-history";
import type { AudienceDeliveriesResponse, AudienceHistoryResponse, AudienceResponse } from "../model/audience-views";
import { AUDIENCE_KEY, AUDIENCE_KEY_RULE, audienceDefinition, computedKeysOf, parseRule } from "../model/audiences";
import { describeIssue, findUnsafeKey } from "../model/validate";
import type { AppEnv } from "./app-env";
import { requireApiKey } from "./auth";
import { readJsonBody } from "./body";
import { ApiError } from "./errors";
import { limitParam } from "./profiles";

export const audienceRoutes = new Hono<AppEnv>();
audienceRoutes.use("/v1/audiences", requireApiKey());
audienceRoutes.use("/v1/audiences/*", requireApiKey());

/** Every audience is evaluated on every event of every person: a bound keeps ingestion's cost in check. */
export const MAX_AUDIENCES = 100;
const MAX_BODY_BYTES = 32 * 1024;

function audienceKeyParam(raw: string | undefined): string {
  const key = raw ?? "";
  if (!AUDIENCE_KEY.test(key)) throw new ApiError(400, "invalid_audience_key", AUDIENCE_KEY_RULE);
  return key;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** An audience as the API shows it: destinations without their secrets. */
export function audienceView(a: StoredAudience, size: number): AudienceResponse {
  return {
    key: a.key,
    name: a.name,
    rule: a.rule,
    destinations: a.destinations.map((d) => ({ type: d.type, url: d.url })),
    size,
    backfill: a.backfill
      ? {
          status: a.backfill.status,
          total: a.backfill.total,
          done: a.backfill.done,
          startedAt: iso(a.backfill.startedAt),
          finishedAt: iso(a.backfill.finishedAt),
        }
      : null,
    createdAt: new Date(a.createdAt).toISOString(),
    updatedAt: new Date(a.updatedAt).toISOString(),
  };
}

function invalid(message: string, fields: string[]): never {
  throw new ApiError(400, "invalid_audience", message, { fields });
}

audienceRoutes.put("/v1/audiences/:key", async (c) => {
  const key = audienceKeyParam(c.req.param("key"));
  const body = await readJsonBody(c.req.raw, MAX_BODY_BYTES, "audience");
  const unsafe = findUnsafeKey(body);
  if (unsafe) throw new ApiError(400, "invalid_audience", unsafe);
  const parsed = audienceDefinition.safeParse(body);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 3);
    invalid(
      issues.map(describeIssue).join("; "),
      issues.map((i) => i.path.map(String).join(".")),
    );
  }
  const rule = parseRule(parsed.data.rule);
  if (!rule.ok) invalid(`${rule.path}: ${rule.message}`, [rule.path]);
  const db = warehouseDb(c.env.WAREHOUSE);
  const [audiences, traits] = await Promise.all([listAudiences(db), listComputedTraits(db)]);
  const defined = new Set(traits.map((t) => t.key));
  const missing = computedKeysOf(rule.rule).filter((k) => !defined.has(k));
  if (missing.length > 0) {
    invalid(
      `the rule reads computed trait "${missing[0]}", which is not defined; create it with PUT /v1/computed-traits/${missing[0]}`,
      ["rule"],
    );
  }
  if (!audiences.some((a) => a.key === key) && audiences.length >= MAX_AUDIENCES) {
    throw new ApiError(
      409,
      "too_many_audiences",
      `there are ${audiences.length} audiences, the most this service evaluates per event; delete one first`,
    );
  }
  const now = Date.now();
  const { created, ruleChanged } = await putAudience(db, key, { ...parsed.data, rule: rule.rule }, now);
  invalidateDefinitions();
  if (ruleChanged) await startAudienceBackfill(c.env, key, now);
  const stored = await getAudience(db, key);
  if (!stored) throw new Error(`audience ${key} vanished after it was written`);
  return c.json(audienceView(stored, await audienceSize(db, key)), created ? 201 : 200);
});

audienceRoutes.get("/v1/audiences", async (c) => {
  const db = warehouseDb(c.env.WAREHOUSE);
  const [audiences, sizes] = await Promise.all([listAudiences(db), audienceSizes(db)]);
  return c.json({ items: audiences.map((a) => audienceView(a, sizes.get(a.key) ?? 0)) });
});

async function audienceOr404(c: { env: AppEnv["Bindings"] }, key: string) {
  const audience = await getAudience(warehouseDb(c.env.WAREHOUSE), key);
  if (!audience) throw new ApiError(404, "audience_not_found", `no audience "${key}"`);
  return audience;
}

audienceRoutes.get("/v1/audiences/:key", async (c) => {
  const key = audienceKeyParam(c.req.param("key"));
  const audience = await audienceOr404(c, key);
  const db = warehouseDb(c.env.WAREHOUSE);
  const [size, deliveries] = await Promise.all([audienceSize(db, key), deliveryReport(db, key)]);
  c.header("cache-control", "no-store");
  return c.json({ ...audienceView(audience, size), deliveries });
});

audienceRoutes.get("/v1/audiences/:key/members", async (c) => {
  const key = audienceKeyParam(c.req.param("key"));
  await audienceOr404(c, key);
  const limit = limitParam(c.req.query("limit"), 100, 1000);
  const rawCursor = c.req.query("cursor");
  const after = rawCursor ? decodeCursor(rawCursor) : null;
  if (rawCursor && !after) {
    throw new ApiError(
      400,
      "invalid_cursor",
      "cursor is the `next` value of the previous page; start again without it",
    );
  }
  const page = await audienceMembers(warehouseDb(c.env.WAREHOUSE), key, limit, after);
  c.header("cache-control", "no-store");
  return c.json({
    items: page.items.map((m) => ({ profileId: m.profileId, enteredAt: new Date(m.enteredAt).toISOString() })),
    next: page.next,
  });
});

function daysParam(raw: string | undefined, bucket: Bucket): number {
  if (raw === undefined || raw === "") return bucket === "hour" ? 1 : 30;
  const n = Number(raw);
  const most = bucket === "hour" ? MAX_HOURLY_DAYS : MAX_HISTORY_DAYS;
  if (!Number.isInteger(n) || n < 1 || n > most) {
    throw new ApiError(
      400,
      "invalid_days",
      `days must be a whole number from 1 to ${most}${bucket === "hour" ? " with bucket=hour (use bucket=day for longer)" : ""}; got "${raw.slice(0, 40)}"`,
    );
  }
  return n;
}

function bucketParam(raw: string | undefined): Bucket {
  if (raw === undefined || raw === "" || raw === "day") return "day";
  if (raw === "hour") return "hour";
  throw new ApiError(400, "invalid_bucket", `bucket is "hour" or "day"; got "${raw.slice(0, 40)}"`);
}

/** Size over the last `days` (per UTC hour or day) and the newest entries and exits of that period. */
audienceRoutes.get("/v1/audiences/:key/history", async (c) => {
  const key = audienceKeyParam(c.req.param("key"));
  const bucket = bucketParam(c.req.query("bucket"));
  const days = daysParam(c.req.query("days"), bucket);
  const limit = limitParam(c.req.query("limit"), 50, 500);
  await audienceOr404(c, key);
  const period = periodOf(days, bucket, Date.now());
  const history = await audienceHistory(warehouseDb(c.env.WAREHOUSE), key, period, limit);
  c.header("cache-control", "no-store");
  return c.json({
    key,
    bucket,
    since: new Date(period.since).toISOString(),
    until: new Date(period.until).toISOString(),
    sizes: history.sizes.map((p) => ({ at: new Date(p.at).toISOString(), size: p.size })),
    entered: history.entered,
    exited: history.exited,
    transitions: history.transitions.map((t) => ({
      profileId: t.profileId,
      kind: t.kind,
      at: new Date(t.at).toISOString(),
    })),
  } satisfies AudienceHistoryResponse);
});

/** Finished webhook deliveries, newest first (dead letters unless `status=delivered`), and dead letters per destination. */
audienceRoutes.get("/v1/audiences/:key/deliveries", async (c) => {
  const key = audienceKeyParam(c.req.param("key"));
  const rawStatus = c.req.query("status") ?? "dead";
  if (rawStatus !== "dead" && rawStatus !== "delivered") {
    throw new ApiError(400, "invalid_status", `status is "dead" or "delivered"; got "${rawStatus.slice(0, 40)}"`);
  }
  const limit = limitParam(c.req.query("limit"), 20, 100);
  const rawCursor = c.req.query("cursor");
  const after = rawCursor ? decodeDeliveryCursor(rawCursor) : null;
  if (rawCursor && !after) {
    throw new ApiError(
      400,
      "invalid_cursor",
      "cursor is the `next` value of the previous page; start again without it",
    );
  }
  await audienceOr404(c, key);
  const page = await audienceDeliveryPage(warehouseDb(c.env.WAREHOUSE), key, rawStatus, limit, after);
  c.header("cache-control", "no-store");
  return c.json({
    key,
    delivered: page.delivered,
    dead: page.dead,
    byDestination: page.byDestination.map((r) => ({ ...r, lastDeadAt: new Date(r.lastDeadAt).toISOString() })),
    items: page.items.map((i) => ({ ...i, at: new Date(i.at).toISOString() })),
    next: page.next,
  } satisfies AudienceDeliveriesResponse);
});

audienceRoutes.delete("/v1/audiences/:key", async (c) => {
  const key = audienceKeyParam(c.req.param("key"));
  if (!(await deleteAudience(warehouseDb(c.env.WAREHOUSE), key, Date.now()))) {
    throw new ApiError(404, "audience_not_found", `no audience "${key}"`);
  }
  invalidateDefinitions();
  return c.body(null, 204);
});
