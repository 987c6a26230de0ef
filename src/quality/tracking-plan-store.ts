/**
 * The tracking plan in D1 and in the isolate: every saved version kept
 * (`tracking_plans`), the one in force compiled once and held in memory
 * (warehouse/isolate-copy.ts), so checking a message costs no D1 query; other
 * isolates apply a new plan within `REFRESH_MS`. Violations are counted per
 * plan version, event, property and kind, and the messages that broke the
 * plan are kept as samples, capped per event and by age.
 */
import { and, desc, eq, lt, sql } from "drizzle-orm";
import type { WarehouseDb } from "../catalog/store";
import type { ProfileEvent } from "../model/messages";
import type { QuarantinePolicy } from "../model/quarantine-policy";
import {
  type CompiledPlan,
  compilePlan,
  type PlanPolicy,
  plannedNameOf,
  type TrackingPlanInput,
  type Violation,
} from "../model/tracking-plan";
import { prepare } from "../sink/warehouse-writer";
import { IsolateCopy } from "../warehouse/isolate-copy";
import { trackingPlanSamples, trackingPlans, trackingPlanViolations } from "../warehouse/quality-schema";

export const REFRESH_MS = 10_000;

/** Samples kept per event name: enough to see every way a sender is wrong. */
export const SAMPLES_PER_EVENT = 1000;

export interface StoredPlan {
  version: number;
  plan: TrackingPlanInput | null;
  createdAt: number;
}

export async function loadPlan(db: WarehouseDb): Promise<StoredPlan | null> {
  const [row] = await db.select().from(trackingPlans).orderBy(desc(trackingPlans.version)).limit(1);
  if (!row) return null;
  return { version: row.version, plan: row.plan === null ? null : JSON.parse(row.plan), createdAt: row.createdAt };
}

/** Saves a new version (null removes the plan); returns it. */
export async function savePlan(db: WarehouseDb, plan: TrackingPlanInput | null, now: number): Promise<StoredPlan> {
  const [row] = await db
    .insert(trackingPlans)
    .values({ plan: plan === null ? null : JSON.stringify(plan), createdAt: now })
    .returning({ version: trackingPlans.version });
  if (!row) throw new Error("the tracking plan was not saved");
  return { version: row.version, plan, createdAt: now };
}

/** The plan this isolate compiled last, and its version (0: none): a refresh that finds the same version keeps it. */
let compiled: { version: number; plan: CompiledPlan | null } = { version: 0, plan: null };

const copy = new IsolateCopy<CompiledPlan | null>("tracking plan", async (db) => {
  const [head] = await db
    .select({ version: trackingPlans.version })
    .from(trackingPlans)
    .orderBy(desc(trackingPlans.version))
    .limit(1);
  if ((head?.version ?? 0) === compiled.version) return compiled.plan;
  const stored = await loadPlan(db);
  compiled = {
    version: stored?.version ?? 0,
    plan: stored?.plan ? compilePlan(stored.plan, stored.version) : null,
  };
  return compiled.plan;
});

/** The plan in force (null: none); only a cold isolate waits for D1. */
export async function currentPlan(
  db: WarehouseDb,
  waitUntil: (p: Promise<unknown>) => void,
  now = Date.now(),
): Promise<CompiledPlan | null> {
  return (await copy.get(db, REFRESH_MS, waitUntil, now)).value;
}

/** Forget the copy after a plan is saved through this isolate. */
export function invalidatePlan() {
  copy.invalidate();
}

/** A message that broke the plan, and what was done with it. */
export interface PlanBreach {
  event: ProfileEvent;
  action: Exclude<PlanPolicy, "allow">;
  violations: Violation[];
}

/** Distinct (event, property, kind) counted per plan version: event and property names are the sender's to choose. */
export const MAX_COUNTED = 10_000;
/** Offending messages kept per request: a flood of them keeps a few, and costs a few rows. */
export const SAMPLES_PER_REQUEST = 20;
/** Names longer than this are cut in the counts (a sender's names, stored). */
const MAX_NAME_CHARS = 200;

const cut = (name: string) => (name.length <= MAX_NAME_CHARS ? name : `${name.slice(0, MAX_NAME_CHARS)}…`);

/**
 * Counts the breaches and keeps the first few as samples, in one D1 batch of
 * a fixed number of statements. A (event, property, kind) first seen when
 * the version already counts `MAX_COUNTED` of them is left out, so the table
 * stays bounded whatever names a sender makes up; samples are capped per
 * event name and by age, pruned as they go in.
 */
export async function recordBreaches(
  d1: D1Database,
  version: number,
  breaches: readonly PlanBreach[],
  receivedAt: number,
  retention: QuarantinePolicy,
): Promise<void> {
  if (breaches.length === 0) return;
  const counts = new Map<string, [string, string, string, number]>();
  for (const b of breaches) {
    const event = cut(plannedNameOf(b.event));
    for (const v of b.violations) {
      const key = JSON.stringify([event, v.property, v.kind]);
      const held = counts.get(key);
      if (held) held[3] += 1;
      else counts.set(key, [event, cut(v.property), v.kind, 1]);
    }
  }
  const samples = breaches
    .slice(0, SAMPLES_PER_REQUEST)
    .map((b) => [
      b.event.messageId,
      b.event.type,
      cut(plannedNameOf(b.event)),
      b.action,
      JSON.stringify(b.violations),
      b.event.userId,
      b.event.anonymousId,
    ]);
  const statements = [
    sql`INSERT INTO tracking_plan_violations (plan_version, event, property, kind, count, last_at)
      SELECT ${version}, j.e, j.p, j.k, j.n, ${receivedAt}
      FROM (SELECT json_extract(value, '$[0]') AS e, json_extract(value, '$[1]') AS p,
              json_extract(value, '$[2]') AS k, json_extract(value, '$[3]') AS n
            FROM json_each(${JSON.stringify([...counts.values()])})) AS j
      WHERE EXISTS (SELECT 1 FROM tracking_plan_violations t WHERE t.plan_version = ${version}
          AND t.event = j.e AND t.property = j.p AND t.kind = j.k)
        OR (SELECT COUNT(*) FROM tracking_plan_violations WHERE plan_version = ${version}) < ${MAX_COUNTED}
      ON CONFLICT (plan_version, event, property, kind) DO UPDATE SET count = count + excluded.count,
        last_at = excluded.last_at`,
    sql`INSERT INTO tracking_plan_samples (received_at, plan_version, message_id, type, event, action, violations,
        user_id, anonymous_id)
      SELECT ${receivedAt}, ${version}, json_extract(value, '$[0]'), json_extract(value, '$[1]'),
        json_extract(value, '$[2]'), json_extract(value, '$[3]'), json_extract(value, '$[4]'),
        json_extract(value, '$[5]'), json_extract(value, '$[6]')
      FROM json_each(${JSON.stringify(samples)})`,
    // Past retention, oldest first, a little more than went in.
    sql`DELETE FROM tracking_plan_samples WHERE id IN (SELECT id FROM tracking_plan_samples
      WHERE received_at < ${receivedAt - retention.retentionMs} ORDER BY received_at LIMIT ${samples.length + 100})`,
    // Beyond the cap of each event name just sampled.
    sql`DELETE FROM tracking_plan_samples WHERE id IN (SELECT s.id FROM (SELECT DISTINCT value AS event
        FROM json_each(${JSON.stringify([...new Set(samples.map((r) => r[2]))])})) AS names
      JOIN tracking_plan_samples AS s ON s.event = names.event
      WHERE s.id <= COALESCE((SELECT id FROM tracking_plan_samples WHERE event = names.event
        ORDER BY id DESC LIMIT 1 OFFSET ${SAMPLES_PER_EVENT}), -1))`,
  ];
  await d1.batch(statements.map((s) => prepare(d1, s)));
}

export interface ViolationCount {
  event: string;
  property: string;
  kind: string;
  count: number;
  lastAt: number;
}

export interface ViolationSample {
  id: number;
  receivedAt: number;
  planVersion: number;
  messageId: string;
  type: string;
  event: string;
  action: string;
  violations: Violation[];
  userId: string | null;
  anonymousId: string | null;
}

/** The counts under a plan version (optionally of one event), most frequent first, and its newest samples. */
export async function listViolations(
  db: WarehouseDb,
  query: { version: number; event: string | null; limit: number; before: number | null },
): Promise<{ counts: ViolationCount[]; items: ViolationSample[] }> {
  const [counts, samples] = await db.batch([
    db
      .select({
        event: trackingPlanViolations.event,
        property: trackingPlanViolations.property,
        kind: trackingPlanViolations.kind,
        count: trackingPlanViolations.count,
        lastAt: trackingPlanViolations.lastAt,
      })
      .from(trackingPlanViolations)
      .where(
        and(
          eq(trackingPlanViolations.planVersion, query.version),
          query.event === null ? undefined : eq(trackingPlanViolations.event, query.event),
        ),
      )
      .orderBy(desc(trackingPlanViolations.count))
      .limit(1000),
    db
      .select()
      .from(trackingPlanSamples)
      .where(
        and(
          eq(trackingPlanSamples.planVersion, query.version),
          query.event === null ? undefined : eq(trackingPlanSamples.event, query.event),
          query.before === null ? undefined : lt(trackingPlanSamples.id, query.before),
        ),
      )
      .orderBy(desc(trackingPlanSamples.id))
      .limit(query.limit),
  ]);
  return {
    counts,
    items: samples.map((s) => ({ ...s, violations: JSON.parse(s.violations) as Violation[] })),
  };
}
