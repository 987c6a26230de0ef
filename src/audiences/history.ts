/**
 * An audience's recent past and its webhook deliveries, read from the D1
 * warehouse for the history and deliveries routes: sizes over a period and
 * the newest transitions (from `audience_memberships`), and the deliveries
 * that finished (from `audience_deliveries`).
 *
 * Every statement is a range of an existing index. The sizes start from
 * the current member count (a covering-index range, as long as the audience
 * is large, the same count `GET /v1/audiences/:key` makes) and walk back
 * through the period's entries and exits, so beyond that count the cost
 * follows the period's activity, not the audience's age; the deliveries'
 * totals count a status's range of its index:
 * - `audience_memberships_current (audience_key, exited_at, entered_at, profile_id)`
 *   covers the membership reads: the open stints are the `exited_at IS NULL`
 *   range (entered in the period: a seek on `entered_at` inside it), the
 *   period's exits the `exited_at > since` range — and a closed stint that
 *   entered in the period exited in it too, so it is in that range as well.
 * - `audience_deliveries_audience (audience_key, status, at)` orders one
 *   status's deliveries newest first and counts them.
 */
import { and, count, desc, eq, gt, isNull, lte, max, sql } from "drizzle-orm";
import type { WarehouseDb } from "../catalog/store";
import {
  type BucketCount,
  newestTransitions,
  type Period,
  sizeSeries,
  type Transition,
} from "../model/audience-history";
import { audienceDeliveries, audienceMemberships } from "../sink/warehouse-schema";

const m = audienceMemberships;

/** Sizes at each boundary of `period` and its newest `limit` transitions; entries and exits counted. */
export async function audienceHistory(db: WarehouseDb, key: string, period: Period, limit: number) {
  const { since, bucketMs } = period;
  const bucketOfColumn = (column: typeof m.enteredAt | typeof m.exitedAt) =>
    // CAST: D1 may bind the numbers as reals, and the bucket is a whole number (never negative here).
    sql<number>`CAST((${column} - ${since} - 1) / ${bucketMs} AS INTEGER)`;
  const open = and(eq(m.audienceKey, key), isNull(m.exitedAt), gt(m.enteredAt, since));
  const closedInPeriod = and(eq(m.audienceKey, key), gt(m.exitedAt, since), gt(m.enteredAt, since));
  const exitedInPeriod = and(eq(m.audienceKey, key), gt(m.exitedAt, since));
  const entriesBy = (where: ReturnType<typeof and>) => {
    const bucket = bucketOfColumn(m.enteredAt);
    return db.select({ bucket, n: count() }).from(m).where(where).groupBy(bucket);
  };
  const exitBucket = bucketOfColumn(m.exitedAt);
  const [current, openEntries, closedEntries, exits, newestOpen, newestClosed, newestExits] = await db.batch([
    db
      .select({ n: count() })
      .from(m)
      .where(and(eq(m.audienceKey, key), isNull(m.exitedAt))),
    entriesBy(open),
    entriesBy(closedInPeriod),
    db.select({ bucket: exitBucket, n: count() }).from(m).where(exitedInPeriod).groupBy(exitBucket),
    db.select({ profileId: m.profileId, at: m.enteredAt }).from(m).where(open).orderBy(desc(m.enteredAt)).limit(limit),
    db
      .select({ profileId: m.profileId, at: m.enteredAt })
      .from(m)
      .where(closedInPeriod)
      .orderBy(desc(m.enteredAt))
      .limit(limit),
    db
      .select({ profileId: m.profileId, at: sql<number>`${m.exitedAt}` })
      .from(m)
      .where(exitedInPeriod)
      .orderBy(desc(m.exitedAt))
      .limit(limit),
  ]);
  const entries: BucketCount[] = [...openEntries, ...closedEntries];
  const kind = (k: Transition["kind"]) => (r: { profileId: string; at: number }) => ({ ...r, kind: k });
  const sum = (rows: readonly BucketCount[]) => rows.reduce((n, r) => n + r.n, 0);
  return {
    sizes: sizeSeries(period, current[0]?.n ?? 0, entries, exits),
    entered: sum(entries),
    exited: sum(exits),
    transitions: newestTransitions(
      [newestOpen.map(kind("entered")), newestClosed.map(kind("entered")), newestExits.map(kind("exited"))],
      limit,
    ),
  };
}

const d = audienceDeliveries;

/** Dead letters counted per destination, at most this many (the newest): a bound on one read's rows. */
export const DEAD_LETTERS_COUNTED = 10_000;

/** The keyset of a deliveries page: the last item's time, message id and destination, as base64url JSON. */
export function encodeDeliveryCursor(at: number, messageId: string, destination: string): string {
  const bytes = new TextEncoder().encode(JSON.stringify([at, messageId, destination]));
  return btoa(String.fromCharCode(...bytes))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replaceAll("=", "");
}

export function decodeDeliveryCursor(cursor: string): [number, string, string] | null {
  try {
    const binary = atob(cursor.replaceAll("-", "+").replaceAll("_", "/"));
    const value: unknown = JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))));
    if (
      Array.isArray(value) &&
      typeof value[0] === "number" &&
      typeof value[1] === "string" &&
      typeof value[2] === "string"
    ) {
      return [value[0], value[1], value[2]];
    }
  } catch {}
  return null;
}

/**
 * One status's finished deliveries of an audience, newest first, a page at a
 * time; the totals by status; and the dead letters per destination.
 */
export async function audienceDeliveryPage(
  db: WarehouseDb,
  key: string,
  status: "delivered" | "dead",
  limit: number,
  after: [number, string, string] | null,
) {
  const newestDead = db
    .select({ destination: d.destination, at: d.at })
    .from(d)
    .where(and(eq(d.audienceKey, key), eq(d.status, "dead")))
    .orderBy(desc(d.at))
    .limit(DEAD_LETTERS_COUNTED)
    .as("newest_dead");
  const [totals, byDestination, rows] = await db.batch([
    db.select({ status: d.status, n: count() }).from(d).where(eq(d.audienceKey, key)).groupBy(d.status),
    db
      .select({ destination: newestDead.destination, dead: count(), lastDeadAt: max(newestDead.at) })
      .from(newestDead)
      .groupBy(newestDead.destination)
      .orderBy(desc(count()), newestDead.destination),
    db
      .select({
        messageId: d.messageId,
        destination: d.destination,
        profileId: d.profileId,
        status: d.status,
        attempts: d.attempts,
        lastError: d.lastError,
        body: d.body,
        at: d.at,
      })
      .from(d)
      .where(
        and(
          eq(d.audienceKey, key),
          eq(d.status, status),
          // The index bounds the time; the rest of the keyset breaks ties within one millisecond.
          after
            ? and(
                lte(d.at, after[0]),
                sql`(${d.at} < ${after[0]} OR (${d.messageId}, ${d.destination}) < (${after[1]}, ${after[2]}))`,
              )
            : undefined,
        ),
      )
      .orderBy(desc(d.at), desc(d.messageId), desc(d.destination))
      .limit(limit + 1),
  ]);
  const by = new Map(totals.map((t) => [t.status, t.n]));
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return {
    delivered: by.get("delivered") ?? 0,
    dead: by.get("dead") ?? 0,
    byDestination: byDestination.map((r) => ({
      destination: r.destination,
      dead: r.dead,
      lastDeadAt: r.lastDeadAt ?? 0,
    })),
    items,
    next: rows.length > limit && last ? encodeDeliveryCursor(last.at, last.messageId, last.destination) : null,
  };
}
