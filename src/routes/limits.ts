/**
 * Abuse limits at the edge, on Cloudflare's Rate Limiting binding (which
 * `wrangler dev` runs locally too): ingestion per write key and client
 * address, counted before the body is read; reads per API key, counted once
 * the key is known to be valid. Over a limit → `429` with `Retry-After`.
 * Budgets live on the bindings in wrangler.toml; counts are per Cloudflare
 * location and approximate, as the binding documents.
 */
import type { Context } from "hono";
import type { AppEnv } from "./app-env";
import { clientAddressOf } from "./client-address";
import { ApiError } from "./errors";

/** The shortest window the binding counts in; a limited client waits this long. */
const RETRY_AFTER_SECONDS = 60;

const encoder = new TextEncoder();

/** A secret never becomes part of a key sent elsewhere: its SHA-256, shortened. */
export async function fingerprint(secret: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(secret)));
  return [...digest.slice(0, 12)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * For routes that must answer the same way whatever happens (a pixel's GIF,
 * a click's redirect): whether this request is over its limit, so the route
 * skips recording it rather than failing the reader.
 */
export async function overLimit(limiter: RateLimit | undefined, key: string): Promise<boolean> {
  return limiter ? !(await limiter.limit({ key })).success : false;
}

export async function enforceLimit(limiter: RateLimit | undefined, key: string, what: string) {
  if (!limiter) return;
  const { success } = await limiter.limit({ key });
  if (success) return;
  throw new ApiError(
    429,
    "rate_limited",
    `too many requests for this ${what}; wait ${RETRY_AFTER_SECONDS} s and retry (messageIds make a resend safe)`,
    undefined,
    { "retry-after": String(RETRY_AFTER_SECONDS) },
  );
}

/** The client's address (see client-address.ts); requests with none share one budget. */
export function clientAddress(c: Context<AppEnv>): string {
  return clientAddressOf(c.req, c.env) ?? "unknown";
}

/** Reads: counted per API (or merge) key, after the route's own check has accepted it. */
export async function limitReads(c: Context<AppEnv>, credential: string): Promise<void> {
  await enforceLimit(c.env.READ_LIMITER, `read:${await fingerprint(credential)}`, "API key");
}
