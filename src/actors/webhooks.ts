/**
 * Sends a person's pending audience webhooks (`webhook_deliveries`) from
 * their actor's alarm: each destination receives the person's transitions in
 * the order they happened — a failed delivery holds back the later ones for
 * the same URL, so an exit never overtakes its entry. A failure that may pass
 * (network, timeout, 408, 429, 5xx) is tried again with doubling, jittered
 * delays; after the last attempt, or at once for a refusal that never will
 * pass (another 4xx), the delivery is a dead letter: it leaves the actor and
 * reaches the warehouse's `audience_deliveries` with its body and last error,
 * where an operator sees it (`GET /v1/audiences/:key`). A delivery that
 * succeeded is recorded there too.
 */
import { nextAttemptAt, retryable, signatureOf } from "../model/audience-delivery";
import type { Definitions } from "../model/audiences";
import type { ChangeRecord } from "../model/changes";
import { appendToOutbox } from "./outbox";

/** How long one delivery may take before it counts as failed. */
const DELIVERY_TIMEOUT_MS = 10_000;
/** Deliveries one alarm run looks at: a person's pending transitions are few. */
const PER_RUN = 50;

interface DeliveryRow extends Record<string, SqlStorageValue> {
  seq: number;
  message_id: string;
  audience: string;
  url: string;
  body: string;
  attempts: number;
  next_at: number;
}

export interface WebhookPolicy {
  retryMs: number;
  attempts: number;
}

async function send(
  url: string,
  body: string,
  secret: string,
): Promise<{ ok: boolean; status: number | null; error: string | null }> {
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "user-agent": "edge-profiles-audiences/1",
        "x-signature": await signatureOf(body, secret),
      },
      body,
      signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
      redirect: "manual",
    });
    // The answer is not needed; reading it frees the connection.
    await res.body?.cancel();
    return res.ok
      ? { ok: true, status: res.status, error: null }
      : { ok: false, status: res.status, error: `HTTP ${res.status}` };
  } catch (err) {
    return { ok: false, status: null, error: String(err).slice(0, 500) };
  }
}

/**
 * Attempts every due delivery (in order per URL) and records each outcome in
 * storage and the outbox. Answers when the next pending delivery is due
 * (null: none left).
 */
export async function deliverDue(
  storage: DurableObjectStorage,
  defs: Definitions,
  policy: WebhookPolicy,
  profileId: string,
  version: number,
  now: () => number,
  /** False once the actor's storage was wiped (an erasure) while a delivery was on its way: nothing more is sent or written. */
  current: () => boolean,
): Promise<number | null> {
  const sql = storage.sql;
  const rows = sql
    .exec<DeliveryRow>(
      "SELECT seq, message_id, audience, url, body, attempts, next_at FROM webhook_deliveries ORDER BY seq LIMIT ?",
      PER_RUN,
    )
    .toArray();
  const held = new Set<string>();
  for (const row of rows) {
    if (held.has(row.url)) continue;
    if (row.next_at > now()) {
      held.add(row.url);
      continue;
    }
    const destination = defs.audiences.find((a) => a.key === row.audience)?.destinations.find((d) => d.url === row.url);
    const outcome = destination
      ? await send(row.url, row.body, destination.secret)
      : { ok: false, status: 410, error: "the destination was removed from the audience" };
    if (!current()) return null;
    const attempts = row.attempts + 1;
    const at = now();
    const finished = outcome.ok || !retryable(outcome.status) || attempts >= policy.attempts;
    storage.transactionSync(() => {
      if (!finished) {
        const retryAt = nextAttemptAt(at, attempts, policy.retryMs);
        sql.exec(
          "UPDATE webhook_deliveries SET attempts = ?, next_at = ?, last_error = ? WHERE seq = ?",
          attempts,
          retryAt,
          outcome.error,
          row.seq,
        );
        // The URL's later deliveries wait behind this one: not due before it (else the alarm would come at once, again and again).
        sql.exec(
          "UPDATE webhook_deliveries SET next_at = ? WHERE url = ? AND seq > ? AND next_at < ?",
          retryAt,
          row.url,
          row.seq,
          retryAt,
        );
        return;
      }
      // A row another call already finished (or an erasure removed) is not reported twice.
      if (sql.exec("DELETE FROM webhook_deliveries WHERE seq = ?", row.seq).rowsWritten === 0) return;
      const record: ChangeRecord = {
        kind: "delivery",
        profileId,
        version,
        at,
        delivery: {
          messageId: row.message_id,
          destination: row.url,
          audienceKey: row.audience,
          status: outcome.ok ? "delivered" : "dead",
          attempts,
          lastError: outcome.error,
          body: outcome.ok ? null : row.body,
        },
      };
      appendToOutbox(sql, [record], at);
    });
    if (!finished) held.add(row.url);
    if (!outcome.ok) {
      console.warn(
        JSON.stringify({
          msg: finished ? "audience webhook dead" : "audience webhook failed",
          audience: row.audience,
          attempts,
          error: outcome.error,
        }),
      );
    }
  }
  const next = sql.exec<{ at: number | null }>("SELECT MIN(next_at) AS at FROM webhook_deliveries").toArray()[0];
  return next?.at ?? null;
}
