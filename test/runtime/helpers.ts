/** Request helpers for in-runtime tests: everything goes through the Worker's own fetch handler. */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import worker from "../../src/index";
import type { Product } from "../../src/model/catalog";

export const WRITE_KEY = "test-write-key";
/** A browser write key (BROWSER_WRITE_KEYS): public, its identity claims are checked. */
export const BROWSER_KEY = "test-browser-key";
/** IDENTITY_VERIFICATION_SECRET in the tests: what the shop's server signs user ids with. */
export const IDENTITY_SECRET = "test-identity-secret";
export const API_KEY = "test-api-key";
export const BASE = "http://edge.test";

export function basic(key: string): string {
  return `Basic ${btoa(`${key}:`)}`;
}

/**
 * A request to the Worker, from an address of its own unless the test sets
 * `cf-connecting-ip`: like visitors on the internet, so only a test that
 * means to reach the per-address ingestion limit does.
 */
export function call(path: string, init?: RequestInit): Promise<Response> {
  return exports.default.fetch(visitorRequest(path, init));
}

/**
 * The same request, handed straight to the Worker's fetch handler in this
 * isolate (with real bindings and actors), waiting for its `waitUntil` work
 * before answering. For tests that make thousands of requests: each call
 * through the pool's `exports.default.fetch` is slower than the one before
 * (it wraps its entrypoint prototype in one more Proxy per request,
 * workers-sdk#15446), so 1,500 requests cost minutes; this path stays flat.
 */
export async function handle(path: string, init?: RequestInit): Promise<Response> {
  const request = visitorRequest(path, init) as Parameters<typeof worker.fetch>[0];
  const ctx = createExecutionContext();
  const response = await worker.fetch(request, env, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

function visitorRequest(path: string, init?: RequestInit): Request {
  const request = new Request(`${BASE}${path}`, init);
  if (!request.headers.has("cf-connecting-ip")) request.headers.set("cf-connecting-ip", randomAddress());
  return request;
}

function randomAddress(): string {
  const [a = 0, b = 0] = crypto.getRandomValues(new Uint8Array(2));
  return `10.${a}.${b}.${1 + (a % 250)}`;
}

/** POSTs JSON to an ingestion route with the write key in HTTP Basic auth. */
export function ingest(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return call(path, {
    method: "POST",
    headers: { authorization: basic(WRITE_KEY), "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** Sends a batch and returns the parsed ingest response, failing loudly on a non-200. */
export async function sendBatch(batch: unknown[], extra: Record<string, unknown> = {}) {
  const res = await ingest("/v1/batch", { batch, ...extra });
  const body = (await res.json()) as {
    success: boolean;
    accepted: number;
    rejected: { index: number; code: string; reason: string }[];
    warnings?: { index: number; reason: string }[];
  };
  if (res.status !== 200) throw new Error(`batch answered ${res.status}: ${JSON.stringify(body)}`);
  return body;
}

export function read(path: string, key = API_KEY): Promise<Response> {
  return call(path, { headers: { authorization: `Bearer ${key}` } });
}

export async function readJson<T = Record<string, unknown>>(path: string): Promise<T> {
  const res = await read(path);
  if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as T;
}

export async function putCatalog(products: unknown[]): Promise<Response> {
  return call("/v1/catalog/products", {
    method: "PUT",
    headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ products }),
  });
}

/** A unique id per test, since storage is isolated per file, not per test. */
export function uid(prefix = "u"): string {
  return `${prefix}-${crypto.randomUUID()}`;
}

export function productFixture(id: string, overrides: Partial<Product> = {}): Product {
  return {
    id,
    title: `Product ${id}`,
    url: `https://shop.example.com/p/${id}`,
    imageUrl: `https://shop.example.com/img/${id}.jpg`,
    price: 49.5,
    currency: "USD",
    categories: ["Running Shoes"],
    brand: "Stride",
    inStock: true,
    ...overrides,
  };
}

export async function quarantineRows(reasonLike = "%"): Promise<{ source: string; reason: string; payload: string }[]> {
  const { results } = await env.WAREHOUSE.prepare(
    "SELECT source, reason, payload FROM bad_events WHERE reason LIKE ? ORDER BY id",
  )
    .bind(reasonLike)
    .all<{ source: string; reason: string; payload: string }>();
  return results;
}

/** Waits for something asynchronous (a Queue delivery) to show; fails after a bounded time. */
export async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}
