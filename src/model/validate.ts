/**
 * Turns raw ingestion payloads into normalized `ProfileEvent`s or a clear
 * per-message rejection reason. Runtime-free: the edge calls it, the tests
 * call it directly.
 */
import { type ClientInfo, enrichContext, normalizeTraits } from "./enrich";
import {
  ID_FIELDS,
  LIMITS,
  MESSAGE_TYPES,
  type MessageType,
  numericIdProblem,
  type ProfileEvent,
  segmentMessage,
} from "./messages";

const UNSAFE_KEYS = new Set(["__proto__", "constructor", "prototype"]);
const encoder = new TextEncoder();

/**
 * Why a message was quarantined, as a stable code an operator can count and
 * filter by (`GET /v1/quarantine?reason=`); the reason text says the detail.
 */
export const REJECTION_CODES = [
  "not_an_object",
  "oversize",
  "unsafe_key",
  "type_mismatch",
  "unknown_type",
  "invalid_fields",
  "missing_identity",
  "invalid_timestamp",
  "invalid_pixel_data",
  "unknown_pixel_type",
  "invalid_write_key",
  "unsafe_number_id",
  "tracking_plan_violation",
] as const;
export type RejectionCode = (typeof REJECTION_CODES)[number];

export type Validated = { ok: true; event: ProfileEvent } | { ok: false; code: RejectionCode; reason: string };

export interface ValidationContext {
  receivedAt: number;
  /** Batch-level `sentAt` and `context`, applied to messages lacking their own. */
  batchSentAt?: string | number;
  batchContext?: Record<string, unknown>;
  /** Route-implied type (`/v1/track` → track); a body `type` must agree. */
  impliedType?: MessageType;
  newMessageId: () => string;
  /** The client's address and user agent, for enrichment (anonymized before storage). */
  client?: ClientInfo;
}

/** UTF-8 size of a string; ASCII-only text, the common case, needs no encoding pass. */
export function utf8Bytes(text: string): number {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: checking for the ASCII range on purpose
  return /^[\x00-\x7f]*$/.test(text) ? text.length : encoder.encode(text).length;
}

/** Byte length of a value's JSON form (what the 32 KB limit counts). */
export function jsonByteLength(value: unknown): number {
  return utf8Bytes(JSON.stringify(value) ?? "");
}

/**
 * First key on the path to an object-prototype name or an over-deep nesting,
 * or null. `JSON.parse` stores `__proto__` as a plain key, but any later
 * `Object.assign` or merge would treat it as the prototype: refuse it.
 */
export function findUnsafeKey(value: unknown, path = "", depth = 0): string | null {
  if (value === null || typeof value !== "object") return null;
  if (depth > LIMITS.depth) return `${path || "message"} nests deeper than ${LIMITS.depth} levels`;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findUnsafeKey(value[i], `${path}[${i}]`, depth + 1);
      if (found) return found;
    }
    return null;
  }
  for (const key of Object.keys(value)) {
    const keyPath = path ? `${path}.${key}` : key;
    if (UNSAFE_KEYS.has(key)) return `key "${keyPath}" is not allowed (reserved object property name)`;
    const found = findUnsafeKey((value as Record<string, unknown>)[key], keyPath, depth + 1);
    if (found) return found;
  }
  return null;
}

function toEpoch(value: string | number | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = typeof value === "number" ? value : Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * Segment's clock-skew rule: `timestamp = receivedAt − (sentAt − originalTimestamp)`
 * when the client said when it sent; otherwise its own timestamp, or
 * `receivedAt`. Times more than five minutes in the future are clamped to
 * `receivedAt` so a wrong device clock cannot make an event "newer than now".
 */
export function correctedTimestamp(
  original: number | undefined,
  sentAt: number | undefined,
  receivedAt: number,
): number {
  let at = original ?? receivedAt;
  if (original !== undefined && sentAt !== undefined) at = receivedAt - (sentAt - original);
  return at > receivedAt + 5 * 60_000 ? receivedAt : at;
}

/** Events older than this are refused: no client has a reason to send them, and dates before it break nothing downstream. */
export const EARLIEST_TIMESTAMP = Date.UTC(2000, 0, 1);

/** `path.to.field: what is wrong`, for a 400 that names the field. */
export function describeIssue(issue: { path: PropertyKey[]; message: string; code: string }): string {
  const where = issue.path.map(String).join(".");
  return where ? `${where}: ${issue.message}` : issue.message;
}

/** Validates and normalizes one message of a request. */
export function validateMessage(raw: unknown, ctx: ValidationContext): Validated {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    return { ok: false, code: "not_an_object", reason: "message must be a JSON object" };
  }
  const size = jsonByteLength(raw);
  if (size > LIMITS.messageBytes) {
    return {
      ok: false,
      code: "oversize",
      reason: `message is ${size} bytes; the limit is ${LIMITS.messageBytes} (32 KB) — trim properties`,
    };
  }
  const unsafe = findUnsafeKey(raw);
  if (unsafe) return { ok: false, code: "unsafe_key", reason: unsafe };

  const input = raw as Record<string, unknown>;
  const declared = input.type;
  if (ctx.impliedType && declared !== undefined && declared !== ctx.impliedType) {
    return {
      ok: false,
      code: "type_mismatch",
      reason: `type "${String(declared)}" does not match the route /v1/${ctx.impliedType}`,
    };
  }
  const type = ctx.impliedType ?? declared;
  if (typeof type !== "string" || !(MESSAGE_TYPES as readonly string[]).includes(type)) {
    return {
      ok: false,
      code: "unknown_type",
      reason: `unknown message type ${JSON.stringify(type ?? null)}; expected one of ${MESSAGE_TYPES.join(", ")}`,
    };
  }

  // Before the schema, so the sender learns the one thing to change (its own code, not a shape).
  for (const field of ID_FIELDS) {
    // A type that has no such field ignores it, whatever it holds.
    if ((field === "previousId" && type !== "alias") || (field === "groupId" && type !== "group")) continue;
    const value = input[field];
    const problem = typeof value === "number" ? numericIdProblem(value) : null;
    if (problem) return { ok: false, code: "unsafe_number_id", reason: `${field} ${problem}` };
  }

  const parsed = segmentMessage.safeParse({ ...input, type });
  if (!parsed.success) {
    return { ok: false, code: "invalid_fields", reason: parsed.error.issues.slice(0, 3).map(describeIssue).join("; ") };
  }
  const msg = parsed.data;
  const userId = msg.userId ?? null;
  const anonymousId = msg.anonymousId ?? null;
  if (!userId && !anonymousId) {
    return { ok: false, code: "missing_identity", reason: "message needs a userId or an anonymousId" };
  }

  const original = toEpoch(msg.timestamp ?? msg.originalTimestamp);
  const sentAt = toEpoch(msg.sentAt ?? ctx.batchSentAt);
  const merged = ctx.batchContext ? { ...ctx.batchContext, ...(msg.context ?? {}) } : (msg.context ?? {});
  const properties = "properties" in msg && msg.properties ? msg.properties : {};

  const timestamp = correctedTimestamp(original, sentAt, ctx.receivedAt);
  if (!Number.isFinite(timestamp) || timestamp < EARLIEST_TIMESTAMP) {
    return {
      ok: false,
      code: "invalid_timestamp",
      reason:
        "timestamp is before 2000-01-01 (after correcting the client's clock with sentAt); send the time the event happened",
    };
  }
  const event: ProfileEvent = {
    messageId: msg.messageId ?? ctx.newMessageId(),
    type: msg.type,
    name: msg.type === "track" ? msg.event : msg.type === "page" || msg.type === "screen" ? (msg.name ?? null) : null,
    userId,
    anonymousId,
    previousId: msg.type === "alias" ? msg.previousId : null,
    groupId: msg.type === "group" ? msg.groupId : null,
    timestamp,
    receivedAt: ctx.receivedAt,
    properties,
    traits: normalizeTraits("traits" in msg && msg.traits ? msg.traits : {}),
    context: enrichContext(merged, ctx.client, pageUrlOf(merged, properties)),
  };
  if (msg.type === "page" && msg.category && event.properties.category === undefined) {
    event.properties = { ...event.properties, category: msg.category };
  }
  // The limit holds for the event as stored, batch context included.
  const stored = jsonByteLength({ properties: event.properties, traits: event.traits, context: event.context });
  if (stored > LIMITS.messageBytes) {
    return {
      ok: false,
      code: "oversize",
      reason: `message with the batch context is ${stored} bytes; the limit is ${LIMITS.messageBytes} (32 KB) — trim properties or the batch context`,
    };
  }
  return { ok: true, event };
}

/** The page a message was sent from: Segment's `context.page.url`, else `properties.url`. */
export function pageUrlOf(context: Record<string, unknown>, properties: Record<string, unknown>): string | null {
  const page = context.page;
  const fromContext = page && typeof page === "object" ? (page as Record<string, unknown>).url : undefined;
  const url = fromContext ?? properties.url;
  return typeof url === "string" ? url : null;
}

/** The actor a message belongs to: the user when known, else the anonymous visitor. */
export function actorKeyOf(event: Pick<ProfileEvent, "userId" | "anonymousId">): string {
  return event.userId ? `user:${event.userId}` : `anon:${event.anonymousId}`;
}
