/**
 * The quarantine of rejected messages (`bad_events` in D1): every message the
 * edge refuses is kept with its reason and original payload, never silently
 * dropped (DESIGN §2.1). Each row records whose message it was in its own
 * columns (`user_id`, `anonymous_id`, `email_hash`), read from the payload's
 * fields, so erasure and export find a person's rows without searching text.
 */

import { chunk, rowsPerStatement, type WarehouseDb } from "../catalog/store";
import { anonymizeIp } from "../model/enrich";
import { payloadOwners } from "../model/owners";
import { emailDirectoryName } from "../model/profile-id";
import type { RejectionCode } from "../model/validate";
import { badEvents } from "./warehouse-schema";

export interface Rejection {
  /** Where it came from: `batch`, `track`, `pixel/page`, … */
  source: string;
  code: RejectionCode;
  reason: string;
  /** Position in the request's batch, when it had one. */
  index: number | null;
  payload: unknown;
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

function payloadText(payload: unknown): string {
  let text: string;
  try {
    text = typeof payload === "string" ? payload : (JSON.stringify(payload) ?? String(payload));
  } catch {
    text = String(payload);
  }
  return text.length <= MAX_PAYLOAD_CHARS
    ? text
    : `${text.slice(0, MAX_PAYLOAD_CHARS)}…[truncated from ${text.length} chars]`;
}

/** Stores rejections atomically; throws when D1 is unavailable so the request fails rather than loses them. */
export async function quarantine(db: WarehouseDb, rejections: readonly Rejection[], receivedAt: number): Promise<void> {
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
        payload: payloadText(kept),
        userId: owners.userId,
        anonymousId: owners.anonymousId,
        // The directory's hash of the address: the row names its owner without holding the address twice.
        emailHash: owners.email ? (await emailDirectoryName(owners.email)).slice("email:".length) : null,
      };
    }),
  );
  const statements = chunk(rows, rowsPerStatement(9)).map((part) => db.insert(badEvents).values(part));
  const [first, ...rest] = statements;
  if (first) await db.batch([first, ...rest]);
}
