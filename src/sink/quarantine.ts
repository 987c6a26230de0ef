/**
 * The quarantine of rejected messages (`bad_events` in D1): every message the
 * edge refuses is kept with its reason and original payload, never silently
 * dropped (DESIGN §2.1), within a cap per reason code and a retention period
 * enforced as rows go in; what is evicted is counted. Requests without a
 * valid write key are counted and only sampled (src/model/quarantine-policy.ts).
 * Each row records whose message it was in its own columns (`user_id`,
 * `anonymous_id`, `email_hash`), read from the payload's fields, so erasure
 * and export find a person's rows without searching text.
 */

import { and, count, eq, gte, sql } from "drizzle-orm";
import { chunk, rowsPerStatement, type WarehouseDb } from "../catalog/store";
import { anonymizeIp } from "../model/enrich";
import { payloadOwners } from "../model/owners";
import { emailDirectoryName } from "../model/profile-id";
import {
  HourlySample,
  hourStart,
  QUARANTINE_COUNTERS,
  type QuarantinePolicy,
  UNAUTHENTICATED_PAYLOAD_CHARS,
  UNAUTHENTICATED_SAMPLE_PER_HOUR,
} from "../model/quarantine-policy";
import type { RejectionCode } from "../model/validate";
import { type BoundedTable, pruneStatements } from "./bounded-rows";
import { badEvents, sinkStats } from "./warehouse-schema";

export interface Rejection {
  /** Where it came from: `batch`, `track`, `pixel/page`, … */
  source: string;
  code: RejectionCode;
  reason: string;
  /** Position in the request's batch, when it had one. */
  index: number | null;
  payload: unknown;
  /** Keep at most this much of the payload's text (default 64 KB). */
  payloadChars?: number;
  /** The class of the write key it came with, when it had one: a replay applies it with the same trust. */
  writeKeyClass?: "browser" | "server";
}

/**
 * What the quarantine keeps of a payload: as sent, except a write key in it
 * (kept nowhere) and a client IP address, anonymized like every stored one.
 */
export function quarantinable(payload: unknown): unknown {
  if (payload === null || typeof payload !== "object" || Array.isArray(payload)) return payload;
  const { writeKey: _key, ...rest } = payload as Record<string, unknown>;
  const context = rest.context;
  if (context && typeof context === "object" && !Array.isArray(context)) {
    const ip = (context as Record<string, unknown>).ip;
    if (typeof ip === "string") rest.context = { ...context, ip: anonymizeIp(ip) };
  }
  return rest;
}

/** Payloads are kept up to this size; a larger one keeps its head and says so. */
const MAX_PAYLOAD_CHARS = 64 * 1024;

function payloadText(payload: unknown, maxChars = MAX_PAYLOAD_CHARS): string {
  let text: string;
  try {
    text = typeof payload === "string" ? payload : (JSON.stringify(payload) ?? String(payload));
  } catch {
    text = String(payload);
  }
  return text.length <= maxChars ? text : `${text.slice(0, maxChars)}…[truncated from ${text.length} chars]`;
}

/**
 * Stores rejections atomically, pruning in the same batch what the policy no
 * longer keeps; throws when D1 is unavailable so the request fails rather than
 * loses them.
 */
export async function quarantine(
  db: WarehouseDb,
  rejections: readonly Rejection[],
  receivedAt: number,
  policy: QuarantinePolicy,
): Promise<void> {
  const rows = await Promise.all(
    rejections.map(async (r) => {
      const kept = quarantinable(r.payload);
      const owners = payloadOwners(kept);
      return {
        receivedAt,
        source: r.source,
        code: r.code,
        reason: r.reason.slice(0, 1000),
        messageIndex: r.index,
        payload: payloadText(kept, r.payloadChars),
        userId: owners.userId,
        anonymousId: owners.anonymousId,
        // The directory's hash of the address: the row names its owner without holding the address twice.
        emailHash: owners.email ? (await emailDirectoryName(owners.email)).slice("email:".length) : null,
        writeKeyClass: r.writeKeyClass ?? null,
      };
    }),
  );
  const statements = chunk(rows, rowsPerStatement(10)).map((part) => db.insert(badEvents).values(part));
  const [first, ...rest] = statements;
  const codes = new Set(rejections.map((r) => r.code));
  const pruning = pruneStatements(db, QUARANTINE, codes, rejections.length, receivedAt, policy);
  if (first) await db.batch([first, ...rest, ...pruning]);
}

function addToCounter(db: WarehouseDb, name: string, value: number) {
  return db
    .insert(sinkStats)
    .values({ name, value })
    .onConflictDoUpdate({ target: sinkStats.name, set: { value: sql`${sinkStats.value} + excluded.value` } });
}

/** The quarantine's rows, capped per reason code. */
const QUARANTINE: BoundedTable = {
  table: badEvents,
  id: badEvents.id,
  group: badEvents.code,
  receivedAt: badEvents.receivedAt,
  counters: QUARANTINE_COUNTERS,
};

const isolateSample = new HourlySample();

/**
 * A rejection of a request that carried no valid write key or token: counted
 * per reason (`unauthenticated:<code>`), and stored, payload cut to 2 KB,
 * only while fewer than `UNAUTHENTICATED_SAMPLE_PER_HOUR` of its reason
 * arrived this hour. Past that, it costs one counter increment. Returns
 * whether it was stored.
 */
export async function recordUnauthenticated(
  db: WarehouseDb,
  rejection: Rejection,
  receivedAt: number,
  policy: QuarantinePolicy,
  sample: HourlySample = isolateSample,
): Promise<boolean> {
  const counter = addToCounter(db, `${QUARANTINE_COUNTERS.unauthenticatedPrefix}${rejection.code}`, 1);
  if (!sample.take(rejection.code, receivedAt)) {
    await counter;
    return false;
  }
  const [, [stored]] = await db.batch([
    counter,
    db
      .select({ n: count() })
      .from(badEvents)
      .where(and(eq(badEvents.code, rejection.code), gte(badEvents.receivedAt, hourStart(receivedAt)))),
  ]);
  if ((stored?.n ?? 0) >= UNAUTHENTICATED_SAMPLE_PER_HOUR) return false;
  // Stored as the object when it fits, so it reads the same as any other row; else its cut text.
  const text = payloadText(quarantinable(rejection.payload), UNAUTHENTICATED_PAYLOAD_CHARS);
  const payload = text.length <= UNAUTHENTICATED_PAYLOAD_CHARS ? rejection.payload : text;
  await quarantine(db, [{ ...rejection, payload }], receivedAt, policy);
  return true;
}

/** Counts an unauthenticated request that has nothing worth keeping (a forged e-mail link token). */
export async function countUnauthenticated(db: WarehouseDb, reason: string): Promise<void> {
  await addToCounter(db, `${QUARANTINE_COUNTERS.unauthenticatedPrefix}${reason}`, 1);
}
