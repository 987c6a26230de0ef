/**
 * The official Segment and RudderStack Node SDKs, pointed at a local
 * `wrangler dev`, build profiles whose sessions, affinities and
 * recommendations come back over HTTP.
 */
import { readFileSync } from "node:fs";
import RudderAnalytics from "@rudderstack/rudder-sdk-node";
import { Analytics as SegmentAnalytics } from "@segment/analytics-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { E2E_KEYS, startLocalServer } from "../../scripts/local-server.mjs";
import type { ProfileView as Profile } from "../../src/model/views";

let server: Awaited<ReturnType<typeof startLocalServer>>;

async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(`${server.url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${E2E_KEYS.apiKey}`, "content-type": "application/json", ...init.headers },
  });
  if (!res.ok) throw new Error(`${init.method ?? "GET"} ${path} → ${res.status}: ${await res.text()}`);
  return (await res.json()) as T;
}

interface Recs {
  items: { productId: string; reason: string }[];
  strategy: string;
}

beforeAll(async () => {
  server = await startLocalServer();
  await api("/v1/catalog/products", { method: "PUT", body: readFileSync("scripts/demo-catalog.json", "utf8") });
});

afterAll(async () => {
  await server?.stop();
});

/** A shopper's visit, in the vocabulary both SDKs share (Segment spec). */
function visit(userId: string, anonymousId: string) {
  return {
    identify: { userId, anonymousId, traits: { email: `${userId}@example.com`, firstName: "Ada" } },
    page: {
      userId,
      anonymousId,
      name: "Running Shoes",
      properties: { url: "https://shop.example.com/c/running-shoes", category: "Running Shoes" },
    },
    views: ["sku-001", "sku-002", "sku-006"].map((productId) => ({
      userId,
      anonymousId,
      event: "Product Viewed",
      properties: { product_id: productId, category: productId === "sku-006" ? "Trail Shoes" : "Running Shoes" },
    })),
    order: {
      userId,
      anonymousId,
      event: "Order Completed",
      properties: {
        order_id: `order-${userId}`,
        revenue: 228.11,
        currency: "USD",
        products: [{ product_id: "sku-001", category: "Running Shoes", price: 228.11, quantity: 1 }],
      },
    },
  };
}

async function assertProfileBuilt(userId: string, anonymousId: string) {
  const profile = await api<Profile>(`/v1/profiles/user_id:${userId}`);
  expect(profile.userId).toBe(userId);
  expect(profile.anonymousIds).toEqual([anonymousId]);
  expect(profile.traits).toMatchObject({ email: `${userId}@example.com`, firstName: "Ada" });
  expect(profile.counts).toEqual({ events: 6, sessions: 1 });
  expect(profile.session.current).toMatchObject({
    events: 6,
    pages: 1,
    revenue: 228.11,
    landingPage: "https://shop.example.com/c/running-shoes",
  });
  const top = profile.affinities[0];
  expect(top?.dimension).toBe("category:running-shoes");
  expect(profile.affinities.map((a) => a.dimension)).toEqual(
    expect.arrayContaining(["product:sku-001", "product:sku-002", "category:trail-shoes"]),
  );

  const recs = await api<Recs>(`/v1/profiles/user_id:${userId}/recommendations?limit=4`);
  expect(recs.strategy).toBe("personalized");
  const ids = recs.items.map((i) => i.productId);
  expect(ids).not.toContain("sku-001"); // bought
  expect(ids[0]).toBe("sku-002"); // viewed, not bought, in the favourite category
  expect(recs.items[0]?.reason).toBe("You viewed this recently");

  const html = await fetch(`${server.url}/v1/merge/user_id:${userId}?format=html`, {
    headers: { authorization: `Bearer ${E2E_KEYS.apiKey}` },
  });
  expect(html.status).toBe(200);
  expect(await html.text()).toContain("Picked for you, Ada");
}

describe("official SDKs against wrangler dev", () => {
  it("@segment/analytics-node builds a profile with sessions, affinities and recommendations", async () => {
    const userId = `seg-${crypto.randomUUID()}`;
    const anonymousId = `anon-${crypto.randomUUID()}`;
    const errors: unknown[] = [];
    const analytics = new SegmentAnalytics({
      writeKey: E2E_KEYS.writeKey,
      host: server.url,
      flushAt: 20,
      maxRetries: 0,
    });
    analytics.on("error", (err) => errors.push(err));
    const v = visit(userId, anonymousId);
    analytics.identify(v.identify);
    analytics.page(v.page);
    for (const view of v.views) analytics.track(view);
    analytics.track(v.order);
    await analytics.closeAndFlush({ timeout: 20_000 });
    expect(errors).toEqual([]);
    await assertProfileBuilt(userId, anonymousId);
  });

  it("@rudderstack/rudder-sdk-node (gzip batches) builds the same profile", async () => {
    const userId = `rud-${crypto.randomUUID()}`;
    const anonymousId = `anon-${crypto.randomUUID()}`;
    const errors: unknown[] = [];
    const client = new RudderAnalytics(E2E_KEYS.writeKey, {
      dataPlaneUrl: server.url,
      flushAt: 20,
      logLevel: "error",
      errorHandler: (err: unknown) => errors.push(err),
    });
    const v = visit(userId, anonymousId);
    client.identify(v.identify);
    client.page(v.page);
    for (const view of v.views) client.track(view);
    client.track(v.order);
    await new Promise<void>((resolve, reject) => client.flush((err?: unknown) => (err ? reject(err) : resolve())));
    expect(errors).toEqual([]);
    await assertProfileBuilt(userId, anonymousId);
  });

  it("a resent Segment batch with the same messageIds changes nothing", async () => {
    const userId = `dup-${crypto.randomUUID()}`;
    const batch = ["a", "b", "c"].map((n) => ({
      type: "track",
      userId,
      messageId: `${userId}-${n}`,
      event: "Product Viewed",
      properties: { product_id: "sku-003" },
    }));
    const send = () =>
      fetch(`${server.url}/v1/batch`, {
        method: "POST",
        headers: { authorization: `Basic ${btoa(`${E2E_KEYS.writeKey}:`)}`, "content-type": "application/json" },
        body: JSON.stringify({ batch }),
      });
    expect((await send()).status).toBe(200);
    const first = await api<Profile>(`/v1/profiles/${userId}`);
    expect((await send()).status).toBe(200);
    expect(await api<Profile>(`/v1/profiles/${userId}`)).toEqual(first);
    expect(first.counts.events).toBe(3);
  });

  it("an oversize chunked batch is refused with 413 and the next request on the server is answered", async () => {
    const auth = { authorization: `Basic ${btoa(`${E2E_KEYS.writeKey}:`)}`, "content-type": "application/json" };
    // 1 MB in 64 KB chunks with no Content-Length: the limit is only found while it streams.
    const piece = new TextEncoder().encode(" ".repeat(64 * 1024));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 16) return controller.close();
        sent += 1;
        controller.enqueue(piece);
      },
    });
    const refused = await fetch(`${server.url}/v1/batch`, {
      method: "POST",
      headers: auth,
      body,
      duplex: "half",
    } as RequestInit);
    expect(refused.status).toBe(413);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("payload_too_large");
    const userId = `after-413-${crypto.randomUUID()}`;
    const next = await fetch(`${server.url}/v1/batch`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ batch: [{ type: "track", userId, event: "Product Viewed" }] }),
    });
    expect(next.status).toBe(200);
    expect((await api<Profile>(`/v1/profiles/${userId}`)).counts.events).toBe(1);
  });
});
