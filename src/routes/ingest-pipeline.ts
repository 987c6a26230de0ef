/**
 * What every ingestion path shares (Tracking API, batch, pixel, email links):
 * validate and normalize each message, quarantine the rejects, group the
 * accepted events by profile actor and make one RPC per actor.
 */

import type { IngestResult } from "../actors/client";
import { profileActor } from "../actors/client";
import { maybeFlushPopularity, popularityTally } from "../catalog/cache";
import { warehouseDb } from "../catalog/store";
import type { Env } from "../env";
import { interactionsOf } from "../model/commerce";
import type { ClientInfo } from "../model/enrich";
import type { IngestResponse, MessageType, ProfileEvent } from "../model/messages";
import { publicProfileId } from "../model/profile-id";
import { settingsOf } from "../model/settings";
import { actorKeyOf, validateMessage } from "../model/validate";
import { quarantine, type Rejection } from "../sink/quarantine";
import { addToCounters, prepare } from "../sink/warehouse-writer";
import { ApiError } from "./errors";

export interface IngestOptions {
  source: string;
  impliedType?: MessageType;
  batchContext?: Record<string, unknown>;
  batchSentAt?: string | number;
  receivedAt?: number;
  /** Who sent the request (address and user agent), for enrichment. */
  client?: ClientInfo;
  /** False for a quarantine replay: what is rejected again stays in its existing row rather than a new one. */
  quarantineRejections?: boolean;
}

/** The request's client as the platform reports it; the address is anonymized before anything keeps it. */
export function clientOf(headers: { header(name: string): string | undefined }): ClientInfo {
  return { ip: headers.header("cf-connecting-ip") ?? null, userAgent: headers.header("user-agent") ?? null };
}

/** Retries a platform error once when the platform says a retry may succeed. */
async function withRetry<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    const e = err as { retryable?: boolean; overloaded?: boolean };
    if (!e?.retryable || e.overloaded) throw err;
    await new Promise((r) => setTimeout(r, 20 + Math.random() * 80));
    return call();
  }
}

/**
 * Some profiles in the request are flooded: their events were not stored
 * (everyone else's were), and the sender is told to slow down and resend.
 */
function profileFlood(actorKeys: string[], applied: readonly (IngestResult | null)[], perSecond: number): ApiError {
  const waitMs = Math.max(...applied.map((r) => r?.throttledForMs ?? 0));
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  const who = actorKeys.length === 1 ? "one profile" : `${actorKeys.length} profiles`;
  return new ApiError(
    429,
    "profile_rate_limited",
    `${who} (${publicProfileId(actorKeys[0] ?? "")}${actorKeys.length > 1 ? ", …" : ""}) took events faster than ${perSecond} a second; their events were not stored, the rest were — resend after ${seconds} s (messageIds make the resend safe)`,
    undefined,
    { "retry-after": String(seconds) },
  );
}

export async function ingestMessages(
  env: Env,
  waitUntil: (p: Promise<unknown>) => void,
  messages: readonly unknown[],
  options: IngestOptions,
): Promise<IngestResponse> {
  const receivedAt = options.receivedAt ?? Date.now();
  const byActor = new Map<string, ProfileEvent[]>();
  const rejections: Rejection[] = [];
  const indexOf = new Map<string, number>();
  // A message's position is kept wherever a request carries several (a batch, a replay).
  const batched = options.source === "batch" || messages.length > 1;

  messages.forEach((raw, index) => {
    const result = validateMessage(raw, {
      receivedAt,
      batchContext: options.batchContext,
      batchSentAt: options.batchSentAt,
      impliedType: options.impliedType,
      newMessageId: () => crypto.randomUUID(),
      client: options.client,
    });
    if (!result.ok) {
      rejections.push({
        source: options.source,
        code: result.code,
        reason: result.reason,
        index: batched ? index : null,
        payload: raw,
      });
      return;
    }
    indexOf.set(result.event.messageId, index);
    const key = actorKeyOf(result.event);
    const list = byActor.get(key);
    if (list) list.push(result.event);
    else byActor.set(key, [result.event]);
  });

  const db = warehouseDb(env.WAREHOUSE);
  const settings = settingsOf(env);
  // Rejections first: once we answer 200 they must already be kept.
  if (rejections.length > 0 && options.quarantineRejections !== false)
    await quarantine(db, rejections, receivedAt, settings.quarantine);

  const results = await Promise.allSettled(
    [...byActor].map(([key, events]) => withRetry(() => profileActor(env, key).ingest(key, events))),
  );
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed.length > 0) {
    console.error(
      JSON.stringify({ msg: "profile ingest failed", actors: failed.length, error: String(failed[0]?.reason) }),
    );
    throw new ApiError(
      503,
      "unavailable",
      `events for ${failed.length} of ${byActor.size} profiles were not stored; retry the request (messageIds make retries safe)`,
    );
  }

  const applied = results.map((r) => (r.status === "fulfilled" ? r.value : null));
  const throttled = [...byActor.keys()].filter((_, i) => applied[i]?.throttledForMs !== undefined);

  // Popularity counts applied events only: a retried request must not inflate it.
  [...byActor.values()].forEach((events, i) => {
    const result = applied[i];
    if (!result || result.throttledForMs !== undefined) return;
    const duplicates = new Set(result.duplicateIds);
    for (const e of events) {
      if (!duplicates.has(e.messageId) && e.context.bot !== true) {
        popularityTally.add(interactionsOf(e), e.timestamp, settings);
      }
    }
  });
  maybeFlushPopularity(db, waitUntil, receivedAt);
  const suppressed = applied.reduce((n, r) => n + (r?.suppressed ?? 0), 0);
  // Counted for operators (`/v1/sink/status`); the sender is not told which identities are suppressed.
  if (suppressed > 0) waitUntil(prepare(env.WAREHOUSE, addToCounters({ suppressed_events: suppressed })).run());

  if (throttled.length > 0) throw profileFlood(throttled, applied, settings.profileEventsPerSecond);

  const warnings = applied.flatMap((r) =>
    (r?.refusedLinks ?? []).map((l) => ({ index: indexOf.get(l.messageId) ?? 0, reason: l.reason })),
  );
  return {
    success: true,
    accepted: messages.length - rejections.length,
    rejected: rejections.map((r, i) => ({ index: r.index ?? i, code: r.code, reason: r.reason })),
    ...(warnings.length > 0 ? { warnings } : {}),
  };
}
