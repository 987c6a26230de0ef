/**
 * Tracking plan API (DESIGN §9), secret API key: `PUT /v1/tracking-plan`
 * saves a new version (it applies to messages from then on; other isolates
 * within 10 s), `GET` reads the one in force, `DELETE` removes it, and
 * `GET /v1/tracking-plan/violations?event=&limit=&before=` counts what broke
 * it by event, property and kind, with the newest offending messages.
 */
import { Hono } from "hono";
import { warehouseDb } from "../catalog/store";
import { compilePlan, PlanError, trackingPlanInput } from "../model/tracking-plan";
import { findUnsafeKey } from "../model/validate";
import { invalidatePlan, listViolations, loadPlan, type StoredPlan, savePlan } from "../quality/tracking-plan-store";
import type { AppEnv } from "./app-env";
import { requireApiKey } from "./auth";
import { readJsonBody } from "./body";
import { ApiError, invalidBody } from "./errors";
import { beforeParam, limitParam } from "./profiles";

export const trackingPlanRoutes = new Hono<AppEnv>();
trackingPlanRoutes.use("/v1/tracking-plan", requireApiKey());
trackingPlanRoutes.use("/v1/tracking-plan/*", requireApiKey());

/** A plan of a thousand events with rich schemas fits; its compile stays in milliseconds. */
const MAX_PLAN_BYTES = 512 * 1024;

function planView(stored: StoredPlan & { plan: NonNullable<StoredPlan["plan"]> }) {
  return { version: stored.version, createdAt: new Date(stored.createdAt).toISOString(), ...stored.plan };
}

trackingPlanRoutes.put("/v1/tracking-plan", async (c) => {
  const body = await readJsonBody(c.req.raw, MAX_PLAN_BYTES, "tracking plan");
  const unsafe = findUnsafeKey(body);
  if (unsafe) throw new ApiError(400, "invalid_tracking_plan", unsafe);
  const parsed = trackingPlanInput.safeParse(body);
  if (!parsed.success) {
    throw invalidBody("invalid_tracking_plan", parsed.error);
  }
  try {
    compilePlan(parsed.data, 0);
  } catch (err) {
    if (err instanceof PlanError) {
      throw new ApiError(400, "invalid_tracking_plan", err.message, { fields: [err.field] });
    }
    throw err;
  }
  const stored = await savePlan(warehouseDb(c.env.WAREHOUSE), parsed.data, Date.now());
  invalidatePlan();
  return c.json(planView({ ...stored, plan: parsed.data }));
});

async function planInForce(env: AppEnv["Bindings"]) {
  const stored = await loadPlan(warehouseDb(env.WAREHOUSE));
  if (!stored?.plan) {
    throw new ApiError(404, "tracking_plan_not_found", "no tracking plan is in force; PUT /v1/tracking-plan sets one");
  }
  return { ...stored, plan: stored.plan };
}

trackingPlanRoutes.get("/v1/tracking-plan", async (c) => c.json(planView(await planInForce(c.env))));

trackingPlanRoutes.delete("/v1/tracking-plan", async (c) => {
  await planInForce(c.env);
  await savePlan(warehouseDb(c.env.WAREHOUSE), null, Date.now());
  invalidatePlan();
  return c.body(null, 204);
});

trackingPlanRoutes.get("/v1/tracking-plan/violations", async (c) => {
  const db = warehouseDb(c.env.WAREHOUSE);
  const versionRaw = c.req.query("version");
  let version: number;
  if (versionRaw !== undefined) {
    version = Number(versionRaw);
    if (!Number.isInteger(version) || version < 1) {
      throw new ApiError(400, "invalid_version", "version must be a plan version (a positive integer)");
    }
  } else {
    const stored = await loadPlan(db);
    if (!stored) return c.json({ version: null, counts: [], items: [], next: null });
    version = stored.version;
  }
  const before = beforeParam(c.req.query("before"));
  const limit = limitParam(c.req.query("limit"), 50, 500);
  const event = c.req.query("event") || null;
  const { counts, items } = await listViolations(db, { version, event, limit: limit + 1, before });
  const page = items.slice(0, limit);
  return c.json({
    version,
    counts: counts.map((n) => ({ ...n, lastAt: new Date(n.lastAt).toISOString() })),
    items: page.map((s) => ({ ...s, receivedAt: new Date(s.receivedAt).toISOString() })),
    next: items.length > limit ? (page.at(-1)?.id ?? null) : null,
  });
});
