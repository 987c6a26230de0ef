/** Helpers for the audience tests: defining audiences and traits, reading a person's segments, and the ESP stand-in. */
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { API_KEY, call, eventually, handle, readJson } from "../helpers";

export { readJson };

export function put(path: string, body: unknown): Promise<Response> {
  return call(path, {
    method: "PUT",
    headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

export async function putOk<T = Record<string, unknown>>(path: string, body: unknown): Promise<T> {
  const res = await put(path, body);
  const json = (await res.json()) as T;
  expect([200, 201], JSON.stringify(json)).toContain(res.status);
  return json;
}

export interface AudienceRead {
  key: string;
  name: string;
  size: number;
  backfill: { status: string; total: number; done: number } | null;
  deliveries?: { delivered: number; dead: number; deadLetters: { messageId: string; lastError: string | null }[] };
}

export function readAudience(key: string): Promise<AudienceRead> {
  return readJson<AudienceRead>(`/v1/audiences/${key}`);
}

export interface Segments {
  audiences: string[];
  computedTraits: Record<string, string | number | boolean | null>;
}

/** A person's audiences and computed traits, as `GET /v1/profiles/:id` shows them. */
export async function segmentsOf(profileId: string): Promise<Segments> {
  const res = await handle(`/v1/profiles/${encodeURIComponent(profileId)}`, {
    headers: { authorization: `Bearer ${API_KEY}` },
  });
  const body = (await res.json()) as Segments;
  if (res.status !== 200) throw new Error(`profile answered ${res.status}: ${JSON.stringify(body)}`);
  return body;
}

export interface Delivery {
  messageId: string | null;
  body: string;
  signature: string | null;
  status: number;
  at: number;
}

/** Where the ESP stand-in listens for one test's webhook, failing the first `fail` attempts of each transition. */
export function espHook(name: string, fail = 0): string {
  if (!env.TEST_ESP_URL) throw new Error("TEST_ESP_URL is set by vitest.audiences.config.mts");
  return `${env.TEST_ESP_URL}/hooks/${name}?fail=${fail}`;
}

export async function espReceived(name: string): Promise<Delivery[]> {
  const res = await fetch(`${env.TEST_ESP_URL}/received/${name}`);
  return (await res.json()) as Delivery[];
}

/** Rows of the warehouse's membership table for one audience and person, oldest first. */
export async function stints(audience: string, profileId: string) {
  const { results } = await env.WAREHOUSE.prepare(
    "SELECT entered_at, exited_at FROM audience_memberships WHERE audience_key = ? AND profile_id = ? ORDER BY entered_at",
  )
    .bind(audience, profileId)
    .all<{ entered_at: number; exited_at: number | null }>();
  return results;
}

export { eventually };

/**
 * Sends a batch as a well-behaved SDK does: a 503 (the service at capacity)
 * is sent again after its Retry-After; messageIds make the repeat safe.
 */
export async function sendBatchPatiently(batch: Record<string, unknown>[], attempts = 20): Promise<void> {
  const withIds = batch.map((m) => ({ messageId: crypto.randomUUID(), ...m }));
  for (let i = 0; i < attempts; i++) {
    const res = await handle("/v1/batch", {
      method: "POST",
      headers: { authorization: `Basic ${btoa("test-write-key:")}`, "content-type": "application/json" },
      body: JSON.stringify({ batch: withIds }),
    });
    if (res.status === 200) return;
    if (res.status !== 503) throw new Error(`batch answered ${res.status}: ${await res.text()}`);
    await new Promise((r) => setTimeout(r, Number(res.headers.get("retry-after") ?? 1) * 1000));
  }
  throw new Error(`batch still refused after ${attempts} attempts`);
}
