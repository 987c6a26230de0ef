/**
 * What every ingestion path shares (Tracking API, batch, pixel, email links):
 * validate and normalize each message, quarantine the rejects, group the
 * accepted events by profile actor and make one RPC per actor.
 */

import type { IngestResult, IngestTrust } from "../actors/client";
import { doneWith, profileActor } from "../actors/client";
import { wasReleased } from "../actors/idle-release";
import { currentDefinitions } from "../audiences/cache";
import { maybeFlushPopularity, popularityTally } from "../catalog/cache";
import { warehouseDb } from "../catalog/store";
import type { Env } from "../env";
import type { ClientInfo } from "../model/enrich";
import { settleEach } from "../model/fan-out";
import {
  UNVERIFIED_IDENTIFY_WARNING,
  USER_HASH_FIELD,
  verificationSecrets,
  verifyUserHash,
} from "../model/identity-claims";
import type { IngestResponse, MessageType, ProfileEvent } from "../model/messages";
import { publicProfileId } from "../model/profile-id";
import { BROWSER_PAYLOAD_CHARS } from "../model/quarantine-policy";
import { settingsOf } from "../model/settings";
import { blockedReason, checkAgainstPlan } from "../model/tracking-plan";
import { actorKeyOf, validateMessage } from "../model/validate";
import { countMetric } from "../observability/metrics-recorder";
import { currentPlan, type PlanBreach, recordBreaches } from "../quality/tracking-plan-store";
import { recordConflicts } from "../sink/identity-conflicts";
import { quarantine, type Rejection } from "../sink/quarantine";
import { addToCounters, prepare } from "../sink/warehouse-writer";
import {
  ActorsBusy,
  ANSWER_GRACE_MS,
  actorsUnavailable,
  admitIngest,
  REQUEST_BUDGET_MS,
  resultsWithin,
  withActorSlot,
} from "./actor-gate";
import type { WriteKeyClass } from "./auth";
import { clientAddressOf } from "./client-address";
import { ApiError } from "./errors";

/** The source of the messages the e-mail routes make from sealed links (and only they). */
export const EMAIL_LINK_SOURCE = "email";
/** The source of an operator's merge alias (routes/profile-merge.ts). */
export const OPERATOR_MERGE_SOURCE = "operator-merge";
/** The service's own messages, which no tracking plan describes: e-mail opens and clicks, operator merges. */
const UNPLANNED_SOURCES: ReadonlySet<string> = new Set([EMAIL_LINK_SOURCE, OPERATOR_MERGE_SOURCE]);

export interface IngestOptions {
  source: string;
  /** The class of the write key the request came with: a browser key's identity claims are checked. */
  trust: WriteKeyClass;
  impliedType?: MessageType;
  batchContext?: Record<string, unknown>;
  batchSentAt?: string | number;
  receivedAt?: number;
  /** Who sent the request (address and user agent), for enrichment. */
  client?: ClientInfo;
  /** False for a quarantine replay: what is rejected again stays in its existing row rather than a new one. */
  quarantineRejections?: boolean;
  /** The messageId of an operator's merge alias (routes/profile-merge.ts), the one message allowed to join two known users. */
  operatorMerge?: string;
}

/** The request's client; the address is anonymized before anything keeps it. */
export function clientOf(
  req: { header(name: string): string | undefined },
  env: Pick<Env, "CLIENT_ADDRESS_HEADER">,
): ClientInfo {
  return { ip: clientAddressOf(req, env), userAgent: req.header("user-agent") ?? null };
}

/** What a rejection keeps of the key it came with: its class, and for a public browser key a shorter payload. */
function keyClassOf(trust: WriteKeyClass): Pick<Rejection, "writeKeyClass" | "payloadChars"> {
  return trust === "browser"
    ? { writeKeyClass: "browser", payloadChars: BROWSER_PAYLOAD_CHARS }
    : { writeKeyClass: "server" };
}

/** Actors one request calls at once; all requests together are bounded by the actor gate. */
const ACTOR_CALLS_PER_REQUEST = 32;

/**
 * Retries a platform error once when the platform says a retry may succeed,
 * and a call that reached an actor just as it was released (it never ran:
 * a call that runs holds the actor).
 */
async function withRetry<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    const e = err as { retryable?: boolean; overloaded?: boolean };
    if (!wasReleased(err) && (!e?.retryable || e.overloaded)) throw err;
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

/** What became of a request's messages, for `GET /metrics` (suppressed events are the sink's own counter). */
function countIngest(accepted: number, throttled: number, rejections: readonly Rejection[], flagged: number) {
  countMetric("events_accepted_total", {}, accepted);
  countMetric("events_throttled_total", {}, throttled);
  const byReason = new Map<string, number>();
  for (const r of rejections) byReason.set(r.code, (byReason.get(r.code) ?? 0) + 1);
  for (const [reason, n] of byReason) countMetric("events_rejected_total", { reason }, n);
  countMetric("events_flagged_total", {}, flagged);
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
  const untrusted = new Set<string>();
  const unverifiedIdentifies: number[] = [];
  const secrets = options.trust === "browser" ? verificationSecrets(env.IDENTITY_VERIFICATION_SECRET) : [];
  const verifications: Promise<void>[] = [];
  // A message's position is kept wherever a request carries several (a batch, a replay).
  const batched = options.source === "batch" || messages.length > 1;

  const db = warehouseDb(env.WAREHOUSE);
  const settings = settingsOf(env);
  // Only a cold isolate waits for the plan; without D1 the messages go in unchecked rather than refused.
  const plan = UNPLANNED_SOURCES.has(options.source)
    ? null
    : await currentPlan(db, waitUntil).catch((err) => {
        console.error(JSON.stringify({ msg: "tracking plan unavailable; messages not checked", error: String(err) }));
        return null;
      });
  const breaches: PlanBreach[] = [];

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
        ...keyClassOf(options.trust),
      });
      return;
    }
    const { event } = result;
    if (plan !== null) {
      const verdict = checkAgainstPlan(plan, event);
      if (verdict.action === "block") {
        breaches.push({ event, action: "block", violations: verdict.violations });
        rejections.push({
          source: options.source,
          code: "tracking_plan_violation",
          reason: blockedReason(event, verdict.violations),
          index: batched ? index : null,
          payload: raw,
          ...keyClassOf(options.trust),
        });
        return;
      }
      if (verdict.action === "flag") {
        breaches.push({ event, action: "flag", violations: verdict.violations });
        // Written on the event itself: the warehouse row and the lake line say what was wrong with it.
        event.context = { ...event.context, trackingPlan: { version: plan.version, violations: verdict.violations } };
      }
    }
    indexOf.set(event.messageId, index);
    // The hash is a credential, not part of the event: never stored, whichever key sent it.
    const { [USER_HASH_FIELD]: hash, ...context } = event.context;
    event.context = context;
    if (options.trust === "browser") {
      const userId = event.userId;
      verifications.push(
        (userId ? verifyUserHash(secrets, userId, hash) : Promise.resolve(false)).then((verified) => {
          if (verified) return;
          untrusted.add(event.messageId);
          if (event.type === "identify" && userId && Object.keys(event.traits).length > 0) {
            unverifiedIdentifies.push(index);
          }
        }),
      );
    }
    const key = actorKeyOf(event);
    const list = byActor.get(key);
    if (list) list.push(result.event);
    else byActor.set(key, [result.event]);
  });

  // Refused whole while the actors are saturated: nothing stored, nothing quarantined twice on the retry.
  const withdraw = admitIngest(byActor.size);
  try {
    // Rejections first: once we answer 200 they must already be kept. A replay blocked again is the same
    // message in the same quarantine row, counted once, when it came.
    const replay = options.quarantineRejections === false;
    const blocked = replay ? [] : breaches.filter((b) => b.action === "block");
    await Promise.all([
      rejections.length > 0 && !replay ? quarantine(db, rejections, receivedAt, settings.quarantine) : null,
      plan !== null && blocked.length > 0
        ? recordBreaches(env.WAREHOUSE, plan.version, blocked, receivedAt, settings.quarantine)
        : null,
    ]);
    await Promise.all(verifications);
  } catch (err) {
    withdraw();
    throw err;
  }
  // The actors read the audience definitions from this isolate's copy: loaded here, once, rather than by each actor.
  await currentDefinitions(db, waitUntil).catch(() => null);
  const deadline = Date.now() + REQUEST_BUDGET_MS;
  let finished = 0;
  const fanOut = settleEach([...byActor], ACTOR_CALLS_PER_REQUEST, ([key, events]) => {
    const trust: IngestTrust =
      untrusted.size > 0 ? { untrusted: events.filter((e) => untrusted.has(e.messageId)).map((e) => e.messageId) } : {};
    // Only the e-mail routes make these messages, from links this service sealed.
    if (options.source === EMAIL_LINK_SOURCE) trust.sealedLinks = true;
    if (options.operatorMerge) trust.operatorMerge = options.operatorMerge;
    return withActorSlot(deadline, async () => {
      // A fresh stub for each try: a stub to an actor that was released stays broken.
      const result = await withRetry(() => profileActor(env, key).ingest(key, events, trust));
      if (result.release) await doneWith(profileActor(env, key));
      finished += 1;
      return result;
    });
  });
  // Calls that finish after the answer still keep their refused identity claims for the operator.
  const results = await resultsWithin(fanOut, REQUEST_BUDGET_MS + ANSWER_GRACE_MS, (late) =>
    waitUntil(
      late.then((settled) => {
        const conflicts = settled.flatMap((r) => (r.status === "fulfilled" ? (r.value.conflicts ?? []) : []));
        return conflicts.length > 0 ? recordConflicts(db, conflicts, receivedAt, settings.quarantine) : undefined;
      }),
    ),
  );
  if (results === null) throw actorsUnavailable(byActor.size - finished, byActor.size, true);
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed.length > 0) {
    const overloaded = failed.filter((r) => r.reason instanceof ActorsBusy).length;
    const broken = failed.find((r) => !(r.reason instanceof ActorsBusy));
    if (broken) {
      console.error(
        JSON.stringify({
          msg: "profile ingest failed",
          actors: failed.length - overloaded,
          error: String(broken.reason),
        }),
      );
    }
    throw actorsUnavailable(failed.length, byActor.size, !broken);
  }

  const applied = results.map((r) => (r.status === "fulfilled" ? r.value : null));
  const throttled = [...byActor.keys()].filter((_, i) => applied[i]?.throttledForMs !== undefined);

  // Popularity counts what each actor says counts: applied events only (a retried request must not
  // inflate it), no bot's, and each person once per product and window.
  for (const result of applied) {
    for (const p of result?.popular ?? []) popularityTally.add([p], p.at, settings);
  }
  maybeFlushPopularity(db, waitUntil, receivedAt);
  const suppressed = applied.reduce((n, r) => n + (r?.suppressed ?? 0), 0);
  // Counted for operators (`/v1/sink/status`); the sender is not told which identities are suppressed.
  if (suppressed > 0) waitUntil(prepare(env.WAREHOUSE, addToCounters({ suppressed_events: suppressed })).run());

  // Kept before answering, like rejections: an operator can see every claim that was not applied.
  const conflicts = applied.flatMap((r) => r?.conflicts ?? []);
  if (conflicts.length > 0) await recordConflicts(db, conflicts, receivedAt, settings.quarantine);

  // Flagged messages are counted once they are stored, and once each: not a resend's duplicates, not a flood's refused.
  const notStored = new Set(applied.flatMap((r) => r?.duplicateIds ?? []));
  for (const key of throttled) for (const e of byActor.get(key) ?? []) notStored.add(e.messageId);
  const flagged = breaches.filter((b) => b.action === "flag" && !notStored.has(b.event.messageId));
  if (plan !== null && flagged.length > 0) {
    waitUntil(
      recordBreaches(env.WAREHOUSE, plan.version, flagged, receivedAt, settings.quarantine).catch((err) =>
        console.error(JSON.stringify({ msg: "tracking plan violations not counted", error: String(err) })),
      ),
    );
  }
  const refused = throttled.reduce((n, key) => n + (byActor.get(key)?.length ?? 0), 0);
  countIngest(messages.length - rejections.length - refused, refused, rejections, flagged.length);
  if (throttled.length > 0) throw profileFlood(throttled, applied, settings.profileEventsPerSecond);

  const warnings = [
    ...applied.flatMap((r) =>
      (r?.refusedLinks ?? []).map((l) => ({ index: indexOf.get(l.messageId) ?? 0, reason: l.reason })),
    ),
    ...unverifiedIdentifies.map((index) => ({ index, reason: UNVERIFIED_IDENTIFY_WARNING })),
  ];
  return {
    success: true,
    accepted: messages.length - rejections.length,
    rejected: rejections.map((r, i) => ({ index: r.index ?? i, code: r.code, reason: r.reason })),
    ...(warnings.length > 0 ? { warnings } : {}),
  };
}
