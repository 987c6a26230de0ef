import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { invalidateCatalog, popularityTally } from "../../src/catalog/cache";
import { addPopularity, warehouseDb } from "../../src/catalog/store";
import { call, productFixture, putCatalog, read, readJson, sendBatch, uid } from "./helpers";

interface Item {
  productId: string;
  title: string;
  url: string;
  score: number;
  reason: string;
  clickUrl?: string;
}
interface Recs {
  items: Item[];
  strategy: string;
  generatedAt: string;
}

/** A catalog of its own per test: unique ids and a unique category name. */
async function catalog(n: number, overrides: (i: number) => Record<string, unknown> = () => ({})) {
  const tag = uid("t").slice(0, 12);
  const category = `Cat ${tag}`;
  const products = Array.from({ length: n }, (_, i) =>
    productFixture(`${tag}-${i}`, { categories: [category], ...overrides(i) }),
  );
  const res = await putCatalog(products);
  expect(res.status).toBe(200);
  return { tag, category, products };
}

const viewed = (userId: string, productId: string, category: string, extra: Record<string, unknown> = {}) => ({
  type: "track",
  userId,
  event: "Product Viewed",
  properties: { product_id: productId, category, ...extra },
});

describe("recommendations", () => {
  it("ranks by the person's affinities and explains each pick", async () => {
    const shoes = await catalog(3, (i) => ({ brand: `Brand${i}` }));
    const jackets = await catalog(3);
    const userId = uid();
    await sendBatch([
      viewed(userId, `${shoes.tag}-0`, shoes.category),
      viewed(userId, `${shoes.tag}-0`, shoes.category),
      { type: "track", userId, event: "Product List Viewed", properties: { category: jackets.category } },
    ]);
    const recs = await readJson<Recs>(`/v1/profiles/user_id:${userId}/recommendations?limit=4`);
    expect(recs.strategy).toBe("personalized");
    expect(recs.items[0]?.productId).toBe(`${shoes.tag}-0`);
    expect(recs.items[0]?.reason).toBe("You viewed this recently");
    expect(recs.items[1]?.reason).toBe(`Because you like ${shoes.category}`);
    // At most two per category: the third pick comes from the next-liked category.
    expect(recs.items.filter((i) => i.productId.startsWith(shoes.tag))).toHaveLength(2);
    expect(recs.items[2]?.productId.startsWith(jackets.tag)).toBe(true);
    for (const item of recs.items) expect(item.reason.length).toBeGreaterThan(0);
  });

  it("excludes what the person bought and what is out of stock", async () => {
    const c = await catalog(4, (i) => ({ inStock: i !== 2 }));
    const userId = uid();
    await sendBatch([
      viewed(userId, `${c.tag}-0`, c.category),
      viewed(userId, `${c.tag}-2`, c.category),
      {
        type: "track",
        userId,
        event: "Order Completed",
        properties: { order_id: "o1", products: [{ product_id: `${c.tag}-0`, category: c.category, price: 10 }] },
      },
    ]);
    const recs = await readJson<Recs>(`/v1/profiles/user_id:${userId}/recommendations?limit=10`);
    const ids = recs.items.map((i) => i.productId);
    expect(ids).not.toContain(`${c.tag}-0`);
    expect(ids).not.toContain(`${c.tag}-2`);
    expect(ids.slice(0, 2).every((id) => id.startsWith(c.tag))).toBe(true);
  });

  it("boosts what was added to the cart but not bought", async () => {
    const c = await catalog(3);
    const userId = uid();
    await sendBatch([
      viewed(userId, `${c.tag}-1`, c.category),
      viewed(userId, `${c.tag}-1`, c.category),
      { type: "track", userId, event: "Product Added", properties: { product_id: `${c.tag}-2`, category: c.category } },
    ]);
    const recs = await readJson<Recs>(`/v1/profiles/user_id:${userId}/recommendations?limit=2`);
    expect(recs.items[0]).toMatchObject({ productId: `${c.tag}-2`, reason: "Still in your basket" });
    expect(recs.items[1]?.productId).toBe(`${c.tag}-1`);
  });

  it("falls back to trending for an unknown profile, never an empty list", async () => {
    await catalog(2);
    const recs = await readJson<Recs>(`/v1/profiles/user_id:${uid()}/recommendations?limit=3`);
    expect(recs.strategy).toBe("trending");
    expect(recs.items).toHaveLength(3);
    expect(recs.items.every((i) => i.reason === "Popular right now")).toBe(true);
  });

  it("puts popular products first in the trending list", async () => {
    const c = await catalog(3);
    const buyers = Array.from({ length: 3 }, () => uid());
    // Far more purchases of product 2 than anything else in this file.
    await sendBatch(
      buyers.flatMap((userId) =>
        Array.from({ length: 20 }, (_, k) => ({
          type: "track",
          userId,
          event: "Order Completed",
          properties: { order_id: `o-${k}`, products: [{ product_id: `${c.tag}-2`, price: 5 }] },
        })),
      ),
    );
    // Popularity reaches D1 at most every few seconds and the isolate's catalog
    // copy refreshes on its interval; do both now instead of waiting for them.
    await addPopularity(warehouseDb(env.WAREHOUSE), popularityTally.drain());
    invalidateCatalog();
    const recs = await readJson<Recs>(`/v1/profiles/user_id:${uid()}/recommendations?limit=1`);
    expect(recs.items[0]?.productId).toBe(`${c.tag}-2`);
  });
});

describe("merge tags", () => {
  interface Merge {
    profile: { id: string; known: boolean; traits: Record<string, unknown> };
    recommendations: Item[];
    recommendation_block: string;
    open_pixel_url: string;
    strategy: string;
  }

  it("returns traits, signed click URLs, an open pixel and the email-safe block", async () => {
    const c = await catalog(2, () => ({ title: `Shoe <script>alert(1)</script> & "Co"` }));
    const userId = uid();
    await sendBatch([
      { type: "identify", userId, traits: { firstName: "Jane <b>", email: "jane@example.com" } },
      viewed(userId, `${c.tag}-0`, c.category),
    ]);
    const m = await readJson<Merge>(`/v1/merge/user_id:${userId}?campaign=spring-sale&limit=2`);
    expect(m.profile).toEqual({
      id: `user_id:${userId}`,
      known: true,
      traits: { firstName: "Jane <b>", email: "jane@example.com" },
    });
    expect(m.strategy).toBe("personalized");
    expect(m.recommendations).toHaveLength(2);
    for (const r of m.recommendations) expect(r.clickUrl).toMatch(/^http:\/\/edge\.test\/c\/[\w-]+$/);
    expect(m.open_pixel_url).toMatch(/^http:\/\/edge\.test\/o\//);

    const block = m.recommendation_block;
    expect(block).toMatch(/^<table role="presentation"/);
    expect(block).not.toContain("<script>");
    expect(block).toContain("Shoe &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Co&quot;");
    expect(block).toContain("Picked for you, Jane &lt;b&gt;");
    expect(block).toContain(`alt="Shoe &lt;script&gt;`);
    expect(block).toContain(`src="https://shop.example.com/img/${c.tag}-0.jpg"`);
    expect(block).toContain(m.recommendations[0]?.clickUrl);
    expect(block).toContain(m.open_pixel_url);
    expect(block).toMatch(/style="/);
  });

  it("answers only the block with ?format=html", async () => {
    await catalog(1);
    const res = await read(`/v1/merge/user_id:${uid()}?format=html`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toMatch(/^<table/);
    expect(html).toContain("Popular right now");
  });

  it("gives unknown and unparseable ids the trending block, not an error", async () => {
    await catalog(1);
    for (const id of [`user_id:${uid()}`, "email:someone@example.com", "user_id:%20"]) {
      const res = await read(`/v1/merge/${id}`);
      expect(res.status, id).toBe(200);
      const m = (await res.json()) as Merge;
      expect(m.strategy).toBe("trending");
      expect(m.profile.known).toBe(false);
      expect(m.recommendations.length).toBeGreaterThan(0);
    }
  });

  it("requires the API key", async () => {
    expect((await read(`/v1/merge/user_id:${uid()}`, "")).status).toBe(401);
  });

  it("refuses bad parameters with 400", async () => {
    expect((await read(`/v1/merge/user_id:x?format=xml`)).status).toBe(400);
    expect((await read(`/v1/merge/user_id:x?limit=0`)).status).toBe(400);
    expect((await read(`/v1/merge/user_id:x?campaign=${"c".repeat(200)}`)).status).toBe(400);
  });
});

describe("the email loop", () => {
  async function mergeFor(userId: string) {
    const c = await catalog(2);
    await sendBatch([viewed(userId, `${c.tag}-0`, c.category)]);
    const m = await readJson<{ recommendations: Item[]; open_pixel_url: string }>(
      `/v1/merge/user_id:${userId}?campaign=spring&variant=b`,
    );
    return { c, m };
  }

  it("redirects a signed click to the product and records it on the profile", async () => {
    const userId = uid();
    const { m } = await mergeFor(userId);
    const item = m.recommendations[1] as Item;
    const path = new URL(item.clickUrl as string).pathname;
    const res = await call(path, { redirect: "manual" });
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe(item.url);

    const { events } = await readJson<{ events: { name: string; properties: Record<string, unknown> }[] }>(
      `/v1/profiles/${userId}/events?limit=1`,
    );
    expect(events[0]?.name).toBe("Email Link Clicked");
    expect(events[0]?.properties).toMatchObject({ campaign: "spring", variant: "b", product_id: item.productId });
    const profile = await readJson<{ affinities: { dimension: string; score: number }[] }>(`/v1/profiles/${userId}`);
    expect(profile.affinities.find((a) => a.dimension === `product:${item.productId}`)?.score).toBe(2);
  });

  it("never redirects a tampered, unsigned or foreign token", async () => {
    const { m } = await mergeFor(uid());
    const token = new URL(m.recommendations[0]?.clickUrl as string).pathname.slice(3);
    const forged = btoa(JSON.stringify({ kind: "c", profile: "user_id:x", url: "https://evil.example.com", exp: 9e9 }))
      .replace(/=+$/, "")
      .replace(/\+/g, "-")
      .replace(/\//g, "_");
    const middle = Math.floor(token.length / 2);
    const flipped = `${token.slice(0, middle)}${token[middle] === "A" ? "B" : "A"}${token.slice(middle + 1)}`;
    const openToken = new URL(m.open_pixel_url).pathname.slice(3);
    for (const bad of [`${forged}.${token.slice(-43)}`, flipped, token.slice(0, -4), forged, "nonsense", openToken]) {
      const res = await call(`/c/${bad}`, { redirect: "manual" });
      expect(res.status, bad).toBe(400);
      expect(res.headers.get("location")).toBeNull();
    }
  });

  it("answers the open pixel with a GIF and records the open", async () => {
    const userId = uid();
    const { m } = await mergeFor(userId);
    const res = await call(new URL(m.open_pixel_url).pathname);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/gif");
    expect(res.headers.get("cache-control")).toMatch(/no-store/);
    const { events } = await readJson<{ events: { name: string }[] }>(`/v1/profiles/${userId}/events?limit=1`);
    expect(events[0]?.name).toBe("Email Opened");
    const tampered = await call(`/o/${new URL(m.open_pixel_url).pathname.slice(3, -3)}xyz`);
    expect(tampered.status).toBe(400);
    expect(tampered.headers.get("content-type")).toBe("image/gif");
  });
});
