/**
 * What an audience transition becomes (DESIGN §8): a Segment track event,
 * `Audience Entered` or `Audience Exited` with `properties: { audience_key,
 * audience_name }`, kept in the person's timeline and the warehouse, and
 * sent as JSON to each webhook destination of the audience, signed with
 * `X-Signature: sha256=<hex HMAC-SHA256 of the body>` under the destination's
 * secret. The `messageId` is fixed per transition, so a receiver that sees a
 * delivery twice (a retry after a lost answer) can drop the repeat.
 */
import type { Transition } from "./audiences";
import type { ProfileEvent } from "./messages";

/** `context.library.name` of the events the service itself records for transitions. */
export const AUDIENCE_LIBRARY = "edge-profiles-audiences";

export const TRANSITION_EVENTS = { entered: "Audience Entered", exited: "Audience Exited" } as const;

export interface Person {
  /** `user_id:42` */
  profileId: string;
  userId: string | null;
  anonymousId: string | null;
  email: string | null;
}

/** The same transition always gets the same id: its audience, the stint it begins or ends, and the person. */
export function transitionMessageId(t: Transition, profileId: string): string {
  return `audience-${t.kind}:${t.audience}:${t.enteredAt}:${profileId}`;
}

/** The transition as a track event of the person's. */
export function transitionEvent(t: Transition, person: Person): ProfileEvent {
  return {
    messageId: transitionMessageId(t, person.profileId),
    type: "track",
    name: TRANSITION_EVENTS[t.kind],
    userId: person.userId,
    anonymousId: person.anonymousId,
    previousId: null,
    groupId: null,
    timestamp: t.at,
    receivedAt: t.at,
    properties: { audience_key: t.audience, audience_name: t.name },
    traits: {},
    context: {
      library: { name: AUDIENCE_LIBRARY },
      ...(person.email ? { traits: { email: person.email } } : {}),
    },
  };
}

/** The webhook body: the event in the Segment spec's JSON shape (ISO times). */
export function webhookBody(e: ProfileEvent): string {
  return JSON.stringify({
    type: "track",
    event: e.name,
    messageId: e.messageId,
    userId: e.userId,
    anonymousId: e.anonymousId,
    timestamp: new Date(e.timestamp).toISOString(),
    properties: e.properties,
    context: e.context,
  });
}

const encoder = new TextEncoder();
const keys = new Map<string, Promise<CryptoKey>>();

function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    // A handful of destinations: the cache never grows past what is configured, give or take rotations.
    if (keys.size > 100) keys.clear();
    keys.set(secret, key);
  }
  return key;
}

/** `sha256=<hex>`: HMAC-SHA256 of the exact body bytes under the destination's secret. */
export async function signatureOf(body: string, secret: string): Promise<string> {
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", await hmacKey(secret), encoder.encode(body)));
  return `sha256=${[...mac].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** Whether a failed delivery may succeed later: network errors, timeouts, 408, 429 and 5xx; other 4xx never will. */
export function retryable(status: number | null): boolean {
  return status === null || status === 408 || status === 429 || status >= 500;
}

/** When to try again after `attempts` failures: base, 2×base, 4×base … with ±50% jitter, capped at 6 h. */
export function nextAttemptAt(now: number, attempts: number, baseMs: number, random: number = Math.random()): number {
  const delay = Math.min(6 * 3_600_000, baseMs * 2 ** Math.max(0, attempts - 1));
  return now + Math.round(delay * (0.5 + random));
}
