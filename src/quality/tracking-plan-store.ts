/**
 * The tracking plan in D1 and in the isolate: every saved version kept
 * (`tracking_plans`), the one in force compiled once and held in memory
 * (warehouse/isolate-copy.ts), so checking a message costs no D1 query; other
 * isolates apply a new plan within `REFRESH_MS`. Violations are counted per
 * plan version, event, property and kind, and the messages that broke the
 * plan are kept as samples, capped per event and by age.
 */
import { and, desc, eq, lt, sql } from "drizzle-orm";
import { chunk, rowsPerStatement, type WarehouseDb } from "../catalog/store";
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
import { type BoundedTable, pruneStatements } from "../sink/bounded-rows";
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

const copy = new IsolateCopy<CompiledPlan | null>("tracking plan", async (db) => {
  const stored = await loadPlan(db);
  return stored?.plan ? compilePlan(stored.plan, stored.version) : null;
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

const SAMPLES: BoundedTable = {
  table: trackingPlanSamples,
  id: trackingPlanSamples.id,
  group: trackingPlanSamples.event,
  receivedAt: trackingPlanSamples.receivedAt,
  counters: { evicted: "tracking_plan_samples_evicted", expired: "tracking_plan_samples_expired" },
};

/** Counts the breaches and keeps them as samples, in one D1 batch. */
export async function recordBreaches(
  db: WarehouseDb,
  version: number,
  breaches: readonly PlanBreach[],
  receivedAt: number,
  retention: QuarantinePolicy,
): Promise<void> {
  if (breaches.length === 0) return;
  const counts = new Map<string, typeof trackingPlanViolations.$inferInsert>();
  for (const b of breaches) {
    const event = plannedNameOf(b.event);
    for (const v of b.violations) {
      const key = JSON.stringify([event, v.property, v.kind]);
      const held = counts.get(key);
      if (held) held.count += 1;
      else
        counts.set(key, {
          planVersion: version,
          event,
          property: v.property,
          kind: v.kind,
          count: 1,
          lastAt: receivedAt,
        });
    }
  }
  const upserts = chunk([...counts.values()], rowsPerStatement(6)).map((rows) =>
    db
      .insert(trackingPlanViolations)
      .values(rows)
      .onConflictDoUpdate({
        target: [
          trackingPlanViolations.planVersion,
          trackingPlanViolations.event,
          trackingPlanViolations.property,
          trackingPlanViolations.kind,
        ],
        set: { count: sql`${trackingPlanViolations.count} + excluded.count`, lastAt: sql`excluded.last_at` },
      }),
  );
  const samples = breaches.map((b) => ({
    receivedAt,
    planVersion: version,
    messageId: b.event.messageId,
    type: b.event.type,
    event: plannedNameOf(b.event),
    action: b.action,
    violations: JSON.stringify(b.violations),
    userId: b.event.userId,
    anonymousId: b.event.anonymousId,
  }));
  const inserts = [];
  for (let i = 0; i < samples.length; i += 10)
    inserts.push(db.insert(trackingPlanSamples).values(samples.slice(i, i + 10)));
  const events = new Set(samples.map((s) => s.event));
  const pruning = pruneStatements(db, SAMPLES, events, samples.length, receivedAt, {
    maxPerReason: SAMPLES_PER_EVENT,
    retentionMs: retention.retentionMs,
  });
  const [first, ...rest] = [...upserts, ...inserts];
  if (first) await db.batch([first, ...rest, ...pruning]);
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
