/**
 * The Queue consumer (DESIGN §4): applies the actors' change messages to the
 * D1 warehouse, the R2 raw lake and, when configured, Kafka.
 *
 * A batch is applied as a whole first (a few statements for up to 100
 * messages). If that fails, each message is applied on its own so one poison
 * message cannot hold its batch back: the good ones are acked, the failing
 * one is retried with backoff and, after `max_retries`, lands in the
 * dead-letter queue, whose consumer keeps it in `dead_letters` for an
 * operator. A body that is not a valid change message can never succeed and
 * is retried straight towards the dead-letter queue.
 */

import { sql } from "drizzle-orm";
import { z } from "zod";
import { doneWith, profileActor } from "../actors/client";
import { AUDIENCE_QUEUE, consumeAudienceBackfills } from "../audiences/backfill";
import { warehouseDb } from "../catalog/store";
import type { Env } from "../env";
import { type ChangeMessage, type ChangeRecord, changeMessage, retryDelayMs, runsOfBody } from "../model/changes";
import { finishedWithin, settleEach } from "../model/fan-out";
import { deadLetterProfileIds } from "../model/owners";
import { privacyHash } from "../model/regulations";
import { settingsOf } from "../model/settings";
import { warehouseRowsOf } from "../model/warehouse-rows";
import { consumeRegulations, REGULATIONS_QUEUE } from "../privacy/regulations";
import { consumeQualityRuns, QUALITY_QUEUE } from "../quality/runs";
import { tracked } from "./batch-progress";
import { kafkaConfig, produceToKafka } from "./kafka";
import { deadLetters } from "./warehouse-schema";
import { prepare, writeWarehouse } from "./warehouse-writer";

export const CHANGES_QUEUE = "edge-profiles-changes";
export const DEAD_LETTER_QUEUE = "edge-profiles-dead-letters";

type Parsed = { ok: true; message: ChangeMessage } | { ok: false; reason: string };

function parseRun(value: unknown): Parsed {
  const parsed = changeMessage.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, reason: `not a change message: ${issue?.path.join(".") || "body"}: ${issue?.message}` };
  }
  return { ok: true, message: parsed.data };
}

/** What a Queue message carries: one run, or each run of a sink buffer's bundle (SinkBuffer). */
function parseBody(body: unknown): { bundled: boolean; runs: { value: unknown; parsed: Parsed }[] } {
  const carried = runsOfBody(body);
  if (carried === null)
    return { bundled: false, runs: [{ value: body, parsed: { ok: false, reason: "body is not JSON" } }] };
  return { bundled: carried.bundled, runs: carried.runs.map((value) => ({ value, parsed: parseRun(value) })) };
}

/**
 * Records of a profile erased after they were made — in flight when the
 * erasure ran — are dropped rather than bringing the person back.
 */
async function withoutErased(env: Env, records: ChangeRecord[]): Promise<ChangeRecord[]> {
  const ids = [...new Set(records.map((r) => r.profileId))];
  const hashes = await Promise.all(ids.map((id) => privacyHash("erased-profile", id)));
  const { results } = await prepare(
    env.WAREHOUSE,
    sql`SELECT profile_hash, erased_at FROM erased_profiles WHERE profile_hash IN (SELECT value FROM json_each(${JSON.stringify(hashes)}))`,
  ).all<{ profile_hash: string; erased_at: number }>();
  if (results.length === 0) return records;
  const erasedAt = new Map(results.map((r) => [r.profile_hash, r.erased_at]));
  const byProfile = new Map(ids.map((id, i) => [id, erasedAt.get(hashes[i] ?? "")]));
  return records.filter((r) => {
    const at = byProfile.get(r.profileId);
    return at === undefined || r.at > at;
  });
}

async function apply(
  env: Env,
  messages: readonly ChangeMessage[],
  now: number,
  step: (name: string) => void = () => {},
): Promise<void> {
  step("reading erasures");
  const records = await withoutErased(
    env,
    messages.flatMap((m) => m.records),
  );
  const rows = warehouseRowsOf(records);
  step("writing the warehouse and lake");
  await writeWarehouse(env.WAREHOUSE, env.LAKE, rows, now, `${now}-${crypto.randomUUID()}`);
  const kafka = kafkaConfig(env);
  if (kafka) {
    step("producing to Kafka");
    await produceToKafka(kafka, records);
  }
  step(`confirming to ${new Set(messages.map((m) => m.actor)).size} actors`);
  await confirmToActors(env, messages);
}

/** Runs written to the warehouse (and confirmed) together: what one batch held before bundles. */
const RUNS_PER_APPLY = 100;

/** Confirmation calls in flight per consumer batch. */
const CONFIRMATIONS_IN_FLIGHT = 32;

/**
 * How long one confirmation may take. The Queue hands the consumer its next
 * batch only when this one returns, so a call that never settles (an actor
 * reset under it) must not hold the whole sink: past the deadline the run
 * counts as unconfirmed, and its actor sends it again later.
 */
const CONFIRMATION_DEADLINE_MS = 10_000;

async function confirmOne(env: Env, [key, ranges]: [string, [number, number][]], selfHosted: boolean) {
  const actor = profileActor(env, key);
  const deleted = await actor.confirmDelivered(ranges);
  if (selfHosted) await doneWith(actor);
  return deleted;
}

async function withinDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  const finished = await finishedWithin(work, ms);
  if (finished === null) throw new Error(`no answer within ${ms} ms`);
  return finished.value;
}

/**
 * Tells each actor which of its outbox runs are applied, so it can delete
 * them: one RPC per actor per batch. A failed confirmation only means the
 * actor sends the run again later, which the idempotent writes absorb.
 */
async function confirmToActors(env: Env, messages: readonly Pick<ChangeMessage, "actor" | "firstSeq" | "lastSeq">[]) {
  const byActor = new Map<string, [number, number][]>();
  for (const m of messages) {
    const ranges = byActor.get(m.actor) ?? [];
    ranges.push([m.firstSeq, m.lastSeq]);
    byActor.set(m.actor, ranges);
  }
  // Self-hosted: a confirmation may be the last call an actor gets for a while; it decides whether to go.
  const selfHosted = settingsOf(env).actorRelease.idleMs !== null;
  // A batch of bundles names thousands of actors: they are woken a few at a time, not all at once.
  const results = await settleEach([...byActor], CONFIRMATIONS_IN_FLIGHT, (entry) =>
    withinDeadline(confirmOne(env, entry, selfHosted), CONFIRMATION_DEADLINE_MS),
  );
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed.length > 0) {
    console.error(
      JSON.stringify({ msg: "outbox confirmation failed", actors: failed.length, error: String(failed[0]?.reason) }),
    );
  }
}

/** Seconds before a failed message is offered again: about 2, 4, 8 … capped at 60. */
function retryDelaySeconds(attempts: number): number {
  return Math.max(1, Math.round(retryDelayMs(attempts + 1) / 1000));
}

/**
 * A message's valid runs. A message that is not a change message is retried
 * (towards the dead letters); a broken run inside a bundle goes back to the
 * Queue alone, so its neighbours are applied. Null when the message was
 * retried as a whole.
 */
async function runsToApply(env: Env, msg: Message<unknown>): Promise<ChangeMessage[] | null> {
  const { bundled, runs } = parseBody(msg.body);
  const poison = runs.filter((r) => !r.parsed.ok);
  for (const r of poison) {
    const reason = r.parsed.ok ? "" : r.parsed.reason;
    console.error(JSON.stringify({ msg: "poison change message", id: msg.id, attempts: msg.attempts, reason }));
  }
  if (poison.length > 0 && !bundled) {
    msg.retry({ delaySeconds: retryDelaySeconds(msg.attempts) });
    return null;
  }
  if (poison.length > 0) {
    const resent = await resendAlone(
      env,
      msg,
      poison.map((r) => r.value),
    );
    if (!resent) return null;
  }
  return runs.flatMap((r) => (r.parsed.ok ? [r.parsed.message] : []));
}

export function consumeChanges(batch: MessageBatch<unknown>, env: Env, now = Date.now()): Promise<void> {
  return tracked(batch.messages.length, (step) => applyChanges(batch, env, now, step));
}

async function applyChanges(
  batch: MessageBatch<unknown>,
  env: Env,
  now: number,
  step: (name: string) => void,
): Promise<void> {
  const good: { msg: Message<unknown>; messages: ChangeMessage[] }[] = [];
  for (const msg of batch.messages) {
    const messages = await runsToApply(env, msg);
    if (messages === null) continue;
    if (messages.length > 0) good.push({ msg, messages });
    else msg.ack();
  }
  if (good.length === 0) return;
  try {
    // A batch of bundles carries thousands of runs: written a hundred at a time, as a batch of lone runs was.
    const runs = good.flatMap((g) => g.messages);
    for (let i = 0; i < runs.length; i += RUNS_PER_APPLY) {
      await apply(env, runs.slice(i, i + RUNS_PER_APPLY), now, (name) =>
        step(`runs ${i + 1}–${Math.min(i + RUNS_PER_APPLY, runs.length)} of ${runs.length}: ${name}`),
      );
    }
    for (const g of good) g.msg.ack();
    return;
  } catch (err) {
    if (good.length === 1 && good[0]?.messages.length === 1) {
      const [only] = good;
      console.error(JSON.stringify({ msg: "change message failed", id: only?.msg.id, error: String(err) }));
      only?.msg.retry({ delaySeconds: retryDelaySeconds(only.msg.attempts) });
      return;
    }
    console.error(
      JSON.stringify({ msg: "change batch failed; applying one by one", size: good.length, error: String(err) }),
    );
  }
  step("applying one by one");
  for (const g of good) {
    const failed: ChangeMessage[] = [];
    let error: unknown = null;
    for (const message of g.messages) {
      try {
        await apply(env, [message], now);
      } catch (err) {
        failed.push(message);
        error = err;
      }
    }
    if (failed.length === 0) {
      g.msg.ack();
      continue;
    }
    console.error(
      JSON.stringify({
        msg: "change message failed",
        id: g.msg.id,
        attempts: g.msg.attempts,
        runs: failed.length,
        error: String(error),
      }),
    );
    // A bundle's failing runs are retried (and dead-lettered) alone; a lone run is retried as it came.
    if (g.messages.length === 1) g.msg.retry({ delaySeconds: retryDelaySeconds(g.msg.attempts) });
    else if (await resendAlone(env, g.msg, failed)) g.msg.ack();
  }
}

/**
 * Sends some runs of a bundle back to the Queue as messages of their own and
 * acks the bundle's place in them; if the Queue refuses, the whole bundle is
 * retried instead (its good runs are applied again, idempotently). Answers
 * whether the runs went.
 */
async function resendAlone(env: Env, msg: Message<unknown>, runs: readonly unknown[]): Promise<boolean> {
  try {
    await env.SINK_QUEUE.sendBatch(runs.map((r) => ({ body: JSON.stringify(r), contentType: "text" as const })));
    return true;
  } catch (err) {
    console.error(JSON.stringify({ msg: "bundle runs not resent", id: msg.id, error: String(err) }));
    msg.retry({ delaySeconds: retryDelaySeconds(msg.attempts) });
    return false;
  }
}

/** The outbox runs a message carries (one, or a bundle's), read from their envelopes alone (their records may be what is broken). */
const envelope = z.object({ actor: z.string().min(1), firstSeq: z.number().int(), lastSeq: z.number().int() });

function runsOf(body: unknown): { bundled: boolean; runs: { actor: string; firstSeq: number; lastSeq: number }[] } {
  const carried = runsOfBody(body);
  if (carried === null) return { bundled: false, runs: [] };
  const runs = carried.runs.flatMap((value) => {
    const parsed = envelope.safeParse(value);
    return parsed.success ? [parsed.data] : [];
  });
  return { bundled: carried.bundled, runs };
}

/**
 * Keeps every dead-lettered message in D1 for an operator, once per outbox
 * run (an actor resends an unconfirmed run as a new message), then confirms
 * the run to its actor so it stops resending what can never be applied: the
 * body is kept here, and nothing acknowledged is dropped.
 */
export async function consumeDeadLetters(batch: MessageBatch<unknown>, env: Env, now = Date.now()): Promise<void> {
  const db = warehouseDb(env.WAREHOUSE);
  const carried = batch.messages.map((m) => runsOf(m.body));
  const rows = batch.messages.map((m, i) => {
    const { bundled, runs } = carried[i] ?? { bundled: false, runs: [] };
    const run = runs[0];
    return {
      queue: CHANGES_QUEUE,
      messageId: run && !bundled ? `${run.actor}#${run.firstSeq}-${run.lastSeq}` : m.id,
      attempts: m.attempts,
      body: typeof m.body === "string" ? m.body : (JSON.stringify(m.body) ?? String(m.body)),
      receivedAt: now,
      // Whose records these are, so an erasure finds the row by its owners rather than by its text.
      profileIds: deadLetterProfileIds(m.body),
    };
  });
  // One row per statement: a body may be up to the Queue's 128 KB message size.
  const [first, ...rest] = rows.map((r) => db.insert(deadLetters).values(r).onConflictDoNothing());
  if (!first) return;
  await db.batch([first, ...rest]);
  await confirmToActors(
    env,
    carried.flatMap((c) => c.runs),
  );
  batch.ackAll();
}

export async function handleQueue(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  if (batch.queue === DEAD_LETTER_QUEUE) return consumeDeadLetters(batch, env);
  if (batch.queue === REGULATIONS_QUEUE) return consumeRegulations(batch, env);
  if (batch.queue === AUDIENCE_QUEUE) return consumeAudienceBackfills(batch, env);
  if (batch.queue === QUALITY_QUEUE) return consumeQualityRuns(batch, env);
  return consumeChanges(batch, env);
}
