/**
 * Audiences and computed traits in the D1 warehouse: their definitions
 * (`audiences`, `computed_traits`), the membership stints the actors' change
 * records fill (`audience_memberships`) — sizes and member pages are read
 * from there — and the webhook deliveries that finished (`audience_deliveries`).
 */
import { and, asc, count, desc, eq, isNull, sql } from "drizzle-orm";
import type { WarehouseDb } from "../catalog/store";
import { type AudienceDefinition, parseRule, webhookDestination } from "../model/audiences";
import { type ComputedTraitDefinition, computedTraitDefinition } from "../model/computed-traits";
import { audienceDeliveries, audienceMemberships, audiences, computedTraits } from "../sink/warehouse-schema";

export interface StoredTrait {
  key: string;
  definition: ComputedTraitDefinition;
  createdAt: number;
  updatedAt: number;
}

export interface Backfill {
  id: string;
  status: "running" | "done";
  total: number;
  done: number;
  startedAt: number;
  finishedAt: number | null;
}

export interface StoredAudience extends AudienceDefinition {
  key: string;
  createdAt: number;
  updatedAt: number;
  backfill: Backfill | null;
}

type TraitRow = typeof computedTraits.$inferSelect;
type AudienceRow = typeof audiences.$inferSelect;

function traitOf(r: TraitRow): StoredTrait {
  // Written by `putComputedTrait` from a validated definition.
  return {
    key: r.key,
    definition: computedTraitDefinition.parse(r.definition),
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}

function audienceOf(r: AudienceRow): StoredAudience {
  const rule = parseRule(r.rule);
  if (!rule.ok) throw new Error(`stored audience ${r.key} has a rule that no longer parses: ${rule.message}`);
  return {
    key: r.key,
    name: r.name,
    rule: rule.rule,
    destinations: webhookDestination.array().parse(r.destinations),
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    backfill:
      r.backfillId && r.backfillStatus && r.backfillStartedAt !== null
        ? {
            id: r.backfillId,
            status: r.backfillStatus,
            total: r.backfillTotal ?? 0,
            done: r.backfillDone ?? 0,
            startedAt: r.backfillStartedAt,
            finishedAt: r.backfillFinishedAt,
          }
        : null,
  };
}

/** Definitions an isolate holds at most: far more than any team evaluates per event. */
export const MAX_DEFINITIONS = 200;

export async function listComputedTraits(db: WarehouseDb): Promise<StoredTrait[]> {
  const rows = await db.select().from(computedTraits).orderBy(asc(computedTraits.key)).limit(MAX_DEFINITIONS).all();
  return rows.map(traitOf);
}

export async function countComputedTraits(db: WarehouseDb): Promise<number> {
  return (await db.select({ n: count() }).from(computedTraits).get())?.n ?? 0;
}

/** Creates or replaces a computed trait; answers whether it was new. */
export async function putComputedTrait(
  db: WarehouseDb,
  key: string,
  definition: ComputedTraitDefinition,
  now: number,
): Promise<{ created: boolean; trait: StoredTrait }> {
  const [row] = await db
    .insert(computedTraits)
    .values({ key, definition, createdAt: now, updatedAt: now })
    .onConflictDoUpdate({ target: computedTraits.key, set: { definition, updatedAt: now } })
    .returning();
  if (!row) throw new Error(`computed trait ${key} was not written`);
  return { created: row.createdAt === now && row.updatedAt === now, trait: traitOf(row) };
}

export async function deleteComputedTrait(db: WarehouseDb, key: string): Promise<boolean> {
  const deleted = await db
    .delete(computedTraits)
    .where(eq(computedTraits.key, key))
    .returning({ key: computedTraits.key });
  return deleted.length > 0;
}

export async function listAudiences(db: WarehouseDb): Promise<StoredAudience[]> {
  const rows = await db.select().from(audiences).orderBy(asc(audiences.key)).limit(MAX_DEFINITIONS).all();
  return rows.map(audienceOf);
}

export async function countAudiences(db: WarehouseDb): Promise<number> {
  return (await db.select({ n: count() }).from(audiences).get())?.n ?? 0;
}

export async function getAudience(db: WarehouseDb, key: string): Promise<StoredAudience | null> {
  const row = await db.select().from(audiences).where(eq(audiences.key, key)).get();
  return row ? audienceOf(row) : null;
}

/**
 * Creates or replaces an audience. Answers whether it was new and whether
 * the people in it may have changed (a new rule): then it needs a backfill.
 */
export async function putAudience(
  db: WarehouseDb,
  key: string,
  definition: AudienceDefinition,
  now: number,
): Promise<{ created: boolean; ruleChanged: boolean }> {
  const before = await db.select({ rule: audiences.rule }).from(audiences).where(eq(audiences.key, key)).get();
  const values = {
    name: definition.name,
    rule: definition.rule,
    destinations: definition.destinations,
    updatedAt: now,
  };
  await db
    .insert(audiences)
    .values({ key, ...values, createdAt: now })
    .onConflictDoUpdate({ target: audiences.key, set: values });
  return {
    created: before === undefined,
    ruleChanged: before === undefined || JSON.stringify(before.rule) !== JSON.stringify(definition.rule),
  };
}

/**
 * Deletes an audience and ends its open stints at `now` (nobody is in an
 * audience that no longer exists). Its destinations go with it: no exit is
 * delivered.
 */
export async function deleteAudience(db: WarehouseDb, key: string, now: number): Promise<boolean> {
  const [deleted] = await db.batch([
    db.delete(audiences).where(eq(audiences.key, key)).returning({ key: audiences.key }),
    db
      .update(audienceMemberships)
      .set({ exitedAt: now, updatedAt: now })
      .where(and(eq(audienceMemberships.audienceKey, key), isNull(audienceMemberships.exitedAt))),
  ]);
  return deleted.length > 0;
}

/** Current members per audience, from the warehouse (as fresh as the sink). */
export async function audienceSizes(db: WarehouseDb): Promise<Map<string, number>> {
  const rows = await db
    .select({ key: audienceMemberships.audienceKey, n: count() })
    .from(audienceMemberships)
    .where(isNull(audienceMemberships.exitedAt))
    .groupBy(audienceMemberships.audienceKey)
    .all();
  return new Map(rows.map((r) => [r.key, r.n]));
}

export async function audienceSize(db: WarehouseDb, key: string): Promise<number> {
  const row = await db
    .select({ n: count() })
    .from(audienceMemberships)
    .where(and(eq(audienceMemberships.audienceKey, key), isNull(audienceMemberships.exitedAt)))
    .get();
  return row?.n ?? 0;
}

/** A page cursor: the last member's entry time and id (any characters), as base64url, opaque to clients. */
export function encodeCursor(enteredAt: number, profileId: string): string {
  const bytes = new TextEncoder().encode(JSON.stringify([enteredAt, profileId]));
  return btoa(String.fromCharCode(...bytes))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replaceAll("=", "");
}

export function decodeCursor(cursor: string): [number, string] | null {
  try {
    const binary = atob(cursor.replaceAll("-", "+").replaceAll("_", "/"));
    const value: unknown = JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))));
    if (Array.isArray(value) && typeof value[0] === "number" && typeof value[1] === "string") {
      return [value[0], value[1]];
    }
  } catch {}
  return null;
}

/** Current members in entry order, a page at a time (keyset paging on `(entered_at, profile_id)`). */
export async function audienceMembers(
  db: WarehouseDb,
  key: string,
  limit: number,
  after: [number, string] | null,
): Promise<{ items: { profileId: string; enteredAt: number }[]; next: string | null }> {
  const m = audienceMemberships;
  const rows = await db
    .select({ profileId: m.profileId, enteredAt: m.enteredAt })
    .from(m)
    .where(
      and(
        eq(m.audienceKey, key),
        isNull(m.exitedAt),
        after ? sql`(${m.enteredAt}, ${m.profileId}) > (${after[0]}, ${after[1]})` : undefined,
      ),
    )
    .orderBy(asc(m.enteredAt), asc(m.profileId))
    .limit(limit + 1)
    .all();
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, next: rows.length > limit && last ? encodeCursor(last.enteredAt, last.profileId) : null };
}

/** Webhook deliveries of an audience that finished, by outcome, and its newest dead letters. */
export async function deliveryReport(db: WarehouseDb, key: string, deadLimit = 20) {
  const d = audienceDeliveries;
  const [totals, dead] = await db.batch([
    db.select({ status: d.status, n: count() }).from(d).where(eq(d.audienceKey, key)).groupBy(d.status),
    db
      .select({
        messageId: d.messageId,
        destination: d.destination,
        profileId: d.profileId,
        attempts: d.attempts,
        lastError: d.lastError,
        body: d.body,
        at: d.at,
      })
      .from(d)
      .where(and(eq(d.audienceKey, key), eq(d.status, "dead")))
      .orderBy(desc(d.at))
      .limit(deadLimit),
  ]);
  const by = new Map(totals.map((t) => [t.status, t.n]));
  return { delivered: by.get("delivered") ?? 0, dead: by.get("dead") ?? 0, deadLetters: dead };
}

/** Records a new backfill of `key` over `total` profiles. */
export async function startBackfill(db: WarehouseDb, key: string, id: string, total: number, now: number) {
  await db
    .update(audiences)
    .set({
      backfillId: id,
      backfillStatus: total === 0 ? "done" : "running",
      backfillTotal: total,
      backfillDone: 0,
      backfillStartedAt: now,
      backfillFinishedAt: total === 0 ? now : null,
    })
    .where(eq(audiences.key, key));
}

/** Adds evaluated profiles to a backfill's progress (only the audience's latest backfill counts); `last` finishes it. */
export async function advanceBackfill(
  db: WarehouseDb,
  key: string,
  id: string,
  evaluated: number,
  now: number,
  last: boolean,
) {
  const finished = last ? sql`1` : sql`${audiences.backfillDone} + ${evaluated} >= ${audiences.backfillTotal}`;
  await db
    .update(audiences)
    .set({
      backfillDone: last
        ? sql`MAX(${audiences.backfillTotal}, ${audiences.backfillDone} + ${evaluated})`
        : sql`MIN(${audiences.backfillTotal}, ${audiences.backfillDone} + ${evaluated})`,
      backfillTotal: last
        ? sql`MAX(${audiences.backfillTotal}, ${audiences.backfillDone} + ${evaluated})`
        : sql`${audiences.backfillTotal}`,
      backfillStatus: sql`CASE WHEN ${finished} THEN 'done' ELSE 'running' END`,
      backfillFinishedAt: sql`CASE WHEN ${finished} THEN ${now} ELSE NULL END`,
    })
    .where(and(eq(audiences.key, key), eq(audiences.backfillId, id)));
}
