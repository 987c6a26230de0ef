import { describe, expect, it } from "vitest";
import { API_KEY, call, productFixture, putCatalog, read, readJson, uid } from "./helpers";

const del = (id: string, key = API_KEY) =>
  call(`/v1/catalog/products/${id}`, { method: "DELETE", headers: { authorization: `Bearer ${key}` } });

describe("catalog", () => {
  it("upserts products and reads them back, the last write winning", async () => {
    const id = uid("sku");
    expect((await putCatalog([productFixture(id, { price: 10 })])).status).toBe(200);
    const res = await putCatalog([productFixture(id, { price: 12.5, inStock: false, brand: null })]);
    expect(await res.json()).toEqual({ success: true, upserted: 1 });
    const p = await readJson(`/v1/catalog/products/${id}`);
    expect(p).toEqual({ ...productFixture(id), price: 12.5, inStock: false, brand: null });
  });

  it("accepts a bare JSON array and fills defaults", async () => {
    const id = uid("sku");
    const res = await call("/v1/catalog/products", {
      method: "PUT",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify([{ id, title: "Plain", url: "https://shop.example.com/plain" }]),
    });
    expect(res.status).toBe(200);
    expect(await readJson(`/v1/catalog/products/${id}`)).toMatchObject({
      currency: "USD",
      categories: [],
      inStock: true,
      imageUrl: null,
    });
  });

  it("refuses the whole request when any product is invalid, saying which and why", async () => {
    const good = uid("sku");
    const res = await putCatalog([
      productFixture(good),
      { id: "bad id with spaces", title: "x", url: "https://x.example.com" },
      { id: uid("sku"), title: "Relative", url: "/p/1" },
      { id: uid("sku"), title: "Negative", url: "https://x.example.com", price: -1 },
    ]);
    expect(res.status).toBe(400);
    const body = (await res.json()) as {
      error: { code: string; message: string; details: { index: number; reason: string }[] };
    };
    expect(body.error.code).toBe("invalid_products");
    expect(body.error.details.map((d) => d.index)).toEqual([1, 2, 3]);
    expect(body.error.details[1]?.reason).toMatch(/absolute http\(s\) URL/);
    expect((await read(`/v1/catalog/products/${good}`)).status).toBe(404);
  });

  it("refuses more than 1,000 products in one request", async () => {
    const res = await putCatalog(Array.from({ length: 1_001 }, (_, i) => productFixture(`bulk-${i}`)));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/limit is 1,000/);
  });

  it("stores 1,000 products in one request", async () => {
    const tag = uid("k").slice(0, 10);
    const res = await putCatalog(Array.from({ length: 1_000 }, (_, i) => productFixture(`${tag}-${i}`)));
    expect(await res.json()).toEqual({ success: true, upserted: 1_000 });
    expect((await read(`/v1/catalog/products/${tag}-999`)).status).toBe(200);
  });

  it("deletes a product, answering 404 for one that is not there", async () => {
    const id = uid("sku");
    await putCatalog([productFixture(id)]);
    expect((await del(id)).status).toBe(200);
    expect((await read(`/v1/catalog/products/${id}`)).status).toBe(404);
    expect((await del(id)).status).toBe(404);
  });

  it("drops a deleted product from recommendations at once", async () => {
    const category = `Only ${uid()}`;
    const [a, b] = [uid("sku"), uid("sku")];
    await putCatalog([productFixture(a, { categories: [category] }), productFixture(b, { categories: [category] })]);
    const userId = uid();
    await call("/v1/track", {
      method: "POST",
      headers: { authorization: `Basic ${btoa("test-write-key:")}`, "content-type": "application/json" },
      body: JSON.stringify({ userId, event: "Product List Viewed", properties: { category } }),
    });
    const before = await readJson<{ items: { productId: string }[] }>(`/v1/profiles/${userId}/recommendations?limit=2`);
    expect(before.items.map((i) => i.productId).sort()).toEqual([a, b].sort());
    await del(a);
    const after = await readJson<{ items: { productId: string }[] }>(`/v1/profiles/${userId}/recommendations?limit=2`);
    expect(after.items.map((i) => i.productId)).not.toContain(a);
  });

  it("pages through the catalog by id", async () => {
    const first = await readJson<{ products: { id: string }[]; next: string | null }>("/v1/catalog/products?limit=2");
    expect(first.products).toHaveLength(2);
    expect(first.next).toBe(first.products[1]?.id);
    const second = await readJson<{ products: { id: string }[] }>(`/v1/catalog/products?limit=2&after=${first.next}`);
    expect((second.products[0]?.id ?? "") > (first.next ?? "")).toBe(true);
  });

  it("requires the API key for every catalog call", async () => {
    expect((await read("/v1/catalog/products", "")).status).toBe(401);
    expect((await read("/v1/catalog/products/x", "test-write-key")).status).toBe(401);
    expect((await del("x", "nope")).status).toBe(401);
    const put = await call("/v1/catalog/products", { method: "PUT", body: "{}" });
    expect(put.status).toBe(401);
  });

  it("answers 400 for malformed or empty catalog bodies", async () => {
    const send = (body: string) =>
      call("/v1/catalog/products", { method: "PUT", headers: { authorization: `Bearer ${API_KEY}` }, body });
    expect((await send("{oops")).status).toBe(400);
    expect((await send('{"products":[]}')).status).toBe(400);
    expect((await send('{"items":[]}')).status).toBe(400);
    expect((await send(`[{"id":"x","title":"t","url":"https://x.example.com","__proto__":{"a":1}}]`)).status).toBe(400);
  });
});
