/**
 * Change records: what a profile actor tells the warehouse, the lake and
 * Kafka about each change to a person (DESIGN §3, §4). The actor appends them
 * to its outbox in the same storage transaction as the change itself; an
 * alarm packs them into Queue messages; the consumer applies them
 * idempotently. One zod schema serves the actor (types), the consumer
 * (validation of what arrives) and the tests (fixtures).
 */
import { z } from "zod";
import type { ProfileEvent } from "./messages";
import type { BatchChanges, EventFacts } from "./profile";
import { utf8Bytes } from "./validate";

const jsonObject = z.record(z.string(), z.unknown());

export const eventFact = z.object({
  messageId: z.string().min(1),
  userId: z.string().nullable(),
  anonymousId: z.string().nullable(),
  type: z.string(),
  name: z.string().nullable(),
  timestamp: z.number(),
  receivedAt: z.number(),
  /** The session the event was counted in; null for a late event. */
  sessionNumber: z.number().int().nullable(),
  /** The first product the event is about (e-commerce events), for the fact table's product key. */
  productId: z.string().nullable(),
  revenue: z.number(),
  properties: jsonObject,
  traits: jsonObject,
  context: jsonObject,
});
export type EventFact = z.infer<typeof eventFact>;

export const profileFact = z.object({
  userId: z.string().nullable(),
  anonymousIds: z.array(z.string()),
  traits: jsonObject,
  /** True when the traits were too large to carry and were left out of this record. */
  traitsOmitted: z.boolean(),
  groupIds: z.array(z.string()),
  firstSeen: z.number(),
  lastSeen: z.number(),
  eventCount: z.number().int(),
  sessionCount: z.number().int(),
});

export const sessionFact = z.object({
  number: z.number().int(),
  startedAt: z.number(),
  endedAt: z.number(),
  events: z.number().int(),
  pages: z.number().int(),
  revenue: z.number(),
  landingPage: z.string().nullable(),
});

/** A person's part in one experiment (model/experiment-attribution.ts), whole. */
export const membershipFact = z.object({
  experimentId: z.string().min(1),
  variant: z.string().min(1),
  exposedAt: z.number(),
  openedAt: z.number().nullable(),
  clickedAt: z.number().nullable(),
  convertedAt: z.number().nullable(),
  conversionMessageId: z.string().nullable(),
  revenue: z.number(),
});

/** A stint of a person in an audience: it began at `enteredAt`, and ended at `exitedAt` once they left. */
export const audienceMembershipFact = z.object({
  key: z.string().min(1),
  enteredAt: z.number(),
  exitedAt: z.number().nullable(),
});

/** A webhook delivery of an audience transition that finished: delivered, or dead after its last attempt. */
export const deliveryFact = z.object({
  messageId: z.string().min(1),
  destination: z.string().min(1),
  audienceKey: z.string().min(1),
  status: z.enum(["delivered", "dead"]),
  attempts: z.number().int(),
  lastError: z.string().nullable(),
  /** The payload, kept for a dead letter so an operator can see and resend it. */
  body: z.string().nullable(),
});

/**
 * Every record names its profile (`user_id:42`) and the profile version the
 * change produced: versions only grow, so the warehouse keeps the newest
 * state whatever order records arrive in. `at` is when it was recorded.
 */
const common = { profileId: z.string().min(1), version: z.number().int().nonnegative(), at: z.number() };

export const changeRecord = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("event"), ...common, event: eventFact }),
  z.object({ kind: z.literal("profile"), ...common, profile: profileFact }),
  z.object({ kind: z.literal("session"), ...common, session: sessionFact }),
  z.object({
    kind: z.literal("affinity"),
    ...common,
    dimension: z.string().min(1),
    /** 0 when the actor forgot the dimension (cap reached). */
    score: z.number(),
    asOf: z.number(),
  }),
  /**
   * `version` is the membership's revision. `mergedInto` names the person a
   * merged visitor's membership now counts under (their own record counts it).
   */
  z.object({ kind: z.literal("experiment"), ...common, membership: membershipFact, mergedInto: z.string().nullable() }),
  z.object({ kind: z.literal("audience"), ...common, audience: audienceMembershipFact }),
  z.object({ kind: z.literal("delivery"), ...common, delivery: deliveryFact }),
]);
export type ChangeRecord = z.infer<typeof changeRecord>;

/** One Queue message: a run of one actor's outbox, in order. */
export const changeMessage = z.object({
  v: z.literal(1),
  actor: z.string().min(1),
  firstSeq: z.number().int(),
  lastSeq: z.number().int(),
  records: z.array(changeRecord).min(1),
});
export type ChangeMessage = z.infer<typeof changeMessage>;

/** Traits larger than this (UTF-8 bytes) are left out of a profile record so it always fits in a Queue message. */
const MAX_TRAITS_BYTES = 48 * 1024;

/** The facts of an event that belongs to no session, product or order (e.g. an audience transition). */
export const NO_EVENT_FACTS: EventFacts = { sessionNumber: null, productId: null, revenue: 0 };

/** The warehouse record of one event. */
export function eventRecordOf(
  e: ProfileEvent,
  head: { profileId: string; version: number; at: number },
  facts: EventFacts,
): ChangeRecord {
  return {
    kind: "event",
    ...head,
    event: {
      messageId: e.messageId,
      userId: e.userId,
      anonymousId: e.anonymousId,
      type: e.type,
      name: e.name,
      timestamp: e.timestamp,
      receivedAt: e.receivedAt,
      ...facts,
      properties: e.properties,
      traits: e.traits,
      context: e.context,
    },
  };
}

/** The change records of one applied batch, in the order they happened. */
export function changeRecordsOf(
  profileId: string,
  events: readonly ProfileEvent[],
  c: BatchChanges,
  now: number,
): ChangeRecord[] {
  const version = c.profile.version;
  const head = { profileId, version, at: now };
  const records: ChangeRecord[] = events.map((e) =>
    eventRecordOf(e, head, c.eventFacts.get(e.messageId) ?? NO_EVENT_FACTS),
  );
  const traitsFit = utf8Bytes(JSON.stringify(c.profile.traits)) <= MAX_TRAITS_BYTES;
  records.push({
    kind: "profile",
    ...head,
    profile: {
      userId: c.profile.userId,
      anonymousIds: c.profile.anonymousIds,
      traits: traitsFit ? c.profile.traits : {},
      traitsOmitted: !traitsFit,
      groupIds: c.profile.groupIds,
      firstSeen: c.profile.firstSeen,
      lastSeen: c.profile.lastSeen,
      eventCount: c.profile.eventCount,
      sessionCount: c.profile.sessionCount,
    },
  });
  for (const s of c.sessions.values()) records.push({ kind: "session", ...head, session: { ...s } });
  for (const [dimension, s] of c.affinities) {
    records.push({ kind: "affinity", ...head, dimension, score: s.score, asOf: s.asOf });
  }
  for (const dimension of c.evictedDimensions) {
    records.push({ kind: "affinity", ...head, dimension, score: 0, asOf: now });
  }
  return records;
}

/** An outbox row as the actor stores it: the record's JSON text and its UTF-8 size. */
export interface OutboxRow {
  seq: number;
  record: string;
  bytes: number;
}

export interface PackedMessage {
  firstSeq: number;
  lastSeq: number;
  /** Records carried. */
  count: number;
  /** The message body: a `ChangeMessage` as JSON text. */
  body: string;
  bytes: number;
}

/**
 * Cloudflare Queues limits: 128 KB per message, 100 messages and 256 KB per
 * `sendBatch`. Packing stays under them with room for the envelope.
 */
export interface QueueLimits {
  messageBytes: number;
  batchBytes: number;
  batchMessages: number;
}

export const QUEUE_LIMITS: Readonly<QueueLimits> = {
  messageBytes: 100 * 1024,
  batchBytes: 240 * 1024,
  batchMessages: 100,
};

/**
 * Packs outbox rows (in seq order) into Queue messages and the messages into
 * `sendBatch` calls, each within the limits. The body is assembled from the
 * stored JSON text, so flushing never re-serializes a record.
 */
export function packOutbox(
  actor: string,
  rows: readonly OutboxRow[],
  limits: Readonly<QueueLimits> = QUEUE_LIMITS,
): PackedMessage[][] {
  const messages: PackedMessage[] = [];
  let run: OutboxRow[] = [];
  let runBytes = 0;
  const envelope = 96 + utf8Bytes(JSON.stringify(actor));
  const close = () => {
    const first = run[0];
    const last = run.at(-1);
    if (!first || !last) return;
    const body = `{"v":1,"actor":${JSON.stringify(actor)},"firstSeq":${first.seq},"lastSeq":${last.seq},"records":[${run
      .map((r) => r.record)
      .join(",")}]}`;
    messages.push({ firstSeq: first.seq, lastSeq: last.seq, count: run.length, body, bytes: runBytes + envelope });
    run = [];
    runBytes = 0;
  };
  for (const row of rows) {
    if (run.length > 0 && runBytes + row.bytes + 1 + envelope > limits.messageBytes) close();
    run.push(row);
    runBytes += row.bytes + 1;
  }
  close();
  return sendBatchesOf(messages, limits);
}

/** Groups Queue messages, in order, into `sendBatch` calls within the limits. */
export function sendBatchesOf<M extends { bytes: number }>(
  messages: readonly M[],
  limits: Readonly<QueueLimits>,
): M[][] {
  const batches: M[][] = [];
  let batch: M[] = [];
  let batchBytes = 0;
  for (const m of messages) {
    if (batch.length > 0 && (batch.length >= limits.batchMessages || batchBytes + m.bytes > limits.batchBytes)) {
      batches.push(batch);
      batch = [];
      batchBytes = 0;
    }
    batch.push(m);
    batchBytes += m.bytes;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/**
 * Several actors' runs in one Queue message (`SINK_COALESCE_MS`, the sink
 * buffer): each entry is a `ChangeMessage`, applied and confirmed as if it
 * had come alone.
 */
export const changeBundle = z.object({ v: z.literal(1), bundle: z.array(z.unknown()).min(1) });

/** Bytes of a bundle's envelope around its runs. */
const BUNDLE_ENVELOPE = 32;

/**
 * Runs per bundle, beside the byte limit. Bundles of ten made ten times the
 * Queue messages and the end-to-end overload test's sink stopped after two
 * consumer batches; bundles bounded by bytes alone pass it. The consumer
 * applies a batch a hundred runs at a time whatever the bundles hold.
 */
export const BUNDLE_RUNS = 500;

/**
 * Packs packed runs (`ChangeMessage` bodies, each within the message limit)
 * into bundle messages and those into `sendBatch` calls, within the limits;
 * each bundle's body is assembled from the runs' text.
 */
export function packBundles(
  runs: readonly { body: string; bytes: number }[],
  limits: Readonly<QueueLimits> = QUEUE_LIMITS,
): { body: string; bytes: number; runs: number }[][] {
  const bundles: { body: string; bytes: number; runs: number }[] = [];
  let open: string[] = [];
  let openBytes = BUNDLE_ENVELOPE;
  const close = () => {
    if (open.length === 0) return;
    bundles.push({ body: `{"v":1,"bundle":[${open.join(",")}]}`, bytes: openBytes, runs: open.length });
    open = [];
    openBytes = BUNDLE_ENVELOPE;
  };
  for (const run of runs) {
    if (open.length >= BUNDLE_RUNS || (open.length > 0 && openBytes + run.bytes + 1 > limits.messageBytes)) close();
    open.push(run.body);
    openBytes += run.bytes + 1;
  }
  close();
  return sendBatchesOf(bundles, limits);
}

/**
 * The runs a Queue message carries: itself, or each entry of a bundle.
 * Null when the body is not JSON; entries are validated by the caller.
 */
export function runsOfBody(body: unknown): { bundled: boolean; runs: unknown[] } | null {
  let value: unknown = body;
  if (typeof body === "string") {
    try {
      value = JSON.parse(body);
    } catch {
      return null;
    }
  }
  const bundle = changeBundle.safeParse(value);
  return bundle.success ? { bundled: true, runs: bundle.data.bundle } : { bundled: false, runs: [value] };
}

/** Exponential backoff with jitter for retrying a failed flush: about 1 s, 2 s, 4 s … capped at a minute. */
export function retryDelayMs(failures: number, random: number = Math.random()): number {
  const base = Math.min(60_000, 1_000 * 2 ** Math.max(0, failures - 1));
  return Math.round(base * (0.5 + random));
}
