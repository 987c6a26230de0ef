/**
 * Experiments in the D1 warehouse: their definitions (`experiments`) and the
 * per-variant totals of their results, counted from the accumulating
 * `experiment_exposures` facts the actors' change records fill. The totals
 * query is the one docs/warehouse.md gives for reproducing the results from
 * the warehouse alone.
 */
import { and, desc, eq, sql } from "drizzle-orm";
import type { WarehouseDb } from "../catalog/store";
import type { VariantTotals } from "../model/experiment-results";
import {
  type ExperimentDefinition,
  type ExperimentResponse,
  type ExperimentVariant,
  experimentVariant,
} from "../model/experiments";
import { experiments } from "../sink/warehouse-schema";

export interface StoredExperiment extends ExperimentDefinition {
  status: "running" | "stopped";
  /** Feeds the assignment hash (never shown): a random value per experiment. */
  salt: string;
  createdAt: number;
  stoppedAt: number | null;
}

/** An experiment as the API shows it. */
export function experimentView(e: StoredExperiment): ExperimentResponse {
  return {
    id: e.id,
    name: e.name ?? null,
    campaign: e.campaign ?? null,
    status: e.status,
    control: e.control,
    variants: e.variants,
    conversionEvent: e.conversionEvent,
    attributionWindowDays: e.attributionWindowDays,
    createdAt: new Date(e.createdAt).toISOString(),
    stoppedAt: e.stoppedAt === null ? null : new Date(e.stoppedAt).toISOString(),
  };
}

type Row = typeof experiments.$inferSelect;

function fromRow(r: Row): StoredExperiment {
  return {
    id: r.id,
    ...(r.name !== null ? { name: r.name } : {}),
    ...(r.campaign !== null ? { campaign: r.campaign } : {}),
    control: r.control,
    // Written by `createExperiment` from a validated definition.
    variants: experimentVariant.array().parse(r.variants) as ExperimentVariant[],
    conversionEvent: r.conversionEvent,
    attributionWindowDays: r.attributionWindowDays,
    salt: r.salt,
    status: r.status,
    createdAt: r.createdAt,
    stoppedAt: r.stoppedAt,
  };
}

function randomSalt(): string {
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export type CreateOutcome =
  | { ok: true; experiment: StoredExperiment }
  | { ok: false; reason: "exists" }
  | { ok: false; reason: "campaign_taken"; by: string };

/** Stores a new running experiment; an id is never reused, and a campaign joins one running experiment at a time. */
export async function createExperiment(
  db: WarehouseDb,
  definition: ExperimentDefinition,
  now: number,
): Promise<CreateOutcome> {
  const campaignHolder = async (campaign: string) =>
    (
      await db
        .select({ id: experiments.id })
        .from(experiments)
        .where(and(eq(experiments.campaign, campaign), eq(experiments.status, "running")))
        .get()
    )?.id ?? null;
  if (definition.campaign) {
    const by = await campaignHolder(definition.campaign);
    if (by) return { ok: false, reason: "campaign_taken", by };
  }
  const experiment: StoredExperiment = {
    ...definition,
    status: "running",
    salt: randomSalt(),
    createdAt: now,
    stoppedAt: null,
  };
  const insert = db
    .insert(experiments)
    .values({
      id: experiment.id,
      name: experiment.name ?? null,
      campaign: experiment.campaign ?? null,
      control: experiment.control,
      variants: experiment.variants,
      conversionEvent: experiment.conversionEvent,
      attributionWindowDays: experiment.attributionWindowDays,
      salt: experiment.salt,
      status: "running",
      createdAt: now,
    })
    // Only the id's conflict is an answer; the running-campaign index's is a race lost, below.
    .onConflictDoNothing({ target: experiments.id })
    .returning({ id: experiments.id });
  try {
    const inserted = await insert;
    return inserted.length > 0 ? { ok: true, experiment } : { ok: false, reason: "exists" };
  } catch (err) {
    if (!definition.campaign || !/UNIQUE/i.test(String(err))) throw err;
    return {
      ok: false,
      reason: "campaign_taken",
      by: (await campaignHolder(definition.campaign)) ?? "another experiment",
    };
  }
}

export async function getExperiment(db: WarehouseDb, id: string): Promise<StoredExperiment | null> {
  const row = await db.select().from(experiments).where(eq(experiments.id, id)).get();
  return row ? fromRow(row) : null;
}

/** Experiments an isolate keeps in memory at most (the newest): far more than a team runs at once. */
export const LISTED_EXPERIMENTS = 1_000;

/** The newest experiments first. */
export async function listExperiments(db: WarehouseDb, limit = LISTED_EXPERIMENTS): Promise<StoredExperiment[]> {
  const rows = await db.select().from(experiments).orderBy(desc(experiments.createdAt)).limit(limit).all();
  return rows.map(fromRow);
}

/** Stops a running experiment; answers it as it is now (already stopped: unchanged), or null when unknown. */
export async function stopExperiment(db: WarehouseDb, id: string, now: number): Promise<StoredExperiment | null> {
  await db
    .update(experiments)
    .set({ status: "stopped", stoppedAt: now })
    .where(and(eq(experiments.id, id), eq(experiments.status, "running")))
    .run();
  return getExperiment(db, id);
}

/**
 * Per-variant totals up to `asOf`: each person once (a merged visitor's row
 * counts under the person it joined), opens, clicks and conversions that
 * happened by then, revenue and its sum of squares for Welch's t-test.
 */
export async function variantTotals(db: WarehouseDb, id: string, asOf: number): Promise<VariantTotals[]> {
  return db.all<VariantTotals>(sql`SELECT variant AS key,
      COUNT(*) AS recipients,
      COUNT(CASE WHEN opened_at <= ${asOf} THEN 1 END) AS openers,
      COUNT(CASE WHEN clicked_at <= ${asOf} THEN 1 END) AS clickers,
      COUNT(CASE WHEN converted_at <= ${asOf} THEN 1 END) AS conversions,
      TOTAL(CASE WHEN converted_at <= ${asOf} THEN revenue END) AS revenue,
      TOTAL(CASE WHEN converted_at <= ${asOf} THEN revenue * revenue END) AS revenueSquares
    FROM experiment_exposures
    WHERE experiment_id = ${id} AND merged_into IS NULL AND exposed_at <= ${asOf}
    GROUP BY variant`);
}
