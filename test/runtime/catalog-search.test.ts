/**
 * Searching the catalog (`GET /v1/catalog/products?q=`): the text is found
 * in a product's id, title, brand or one of its categories, in either case,
 * taken literally (LIKE's wildcards are plain characters here), and a search
 * pages like the plain list does.
 */
import { describe, expect, it } from "vitest";
import type { Product } from "../../src/model/catalog";
import { call, productFixture, putCatalog, read, readJson, uid } from "./helpers";

interface Page {
  products: Product[];
  next: string | null;
}

const search = (q: string, extra = "") =>
  readJson<Page>(`/v1/catalog/products?q=${encodeURIComponent(q)}${extra}`).then((p) => ({
    ids: p.products.map((x) => x.id),
    next: p.next,
  }));

describe("catalog search", () => {
  // A word of its own per run (with letters, so case can differ), which products other tests store never hold.
  const word = `kw${crypto.randomUUID().slice(0, 8)}`;
  const other = () => `p-${crypto.randomUUID().slice(0, 8)}`;
  const ids = { byId: `${word}-id`, byTitle: other(), byBrand: other(), byCategory: other(), literal: other() };

  it("finds the text in an id, a title, a brand or a category, in either case", async () => {
    const res = await putCatalog([
      productFixture(ids.byId, { title: "Trail Runner", brand: "Stride", categories: ["Shoes"] }),
      productFixture(ids.byTitle, { title: `The ${word} Runner`, brand: "Stride", categories: ["Shoes"] }),
      productFixture(ids.byBrand, { title: "Plain Sock", brand: `Brand ${word.toUpperCase()}`, categories: [] }),
      productFixture(ids.byCategory, { title: "Plain Cap", brand: null, categories: ["Hats", `Cat ${word}`] }),
      productFixture(ids.literal, { title: `50% off_${word}`, brand: null, categories: [] }),
    ]);
    expect(res.status).toBe(200);
    const found = await search(word.toUpperCase());
    expect(found.ids).toEqual(Object.values(ids).sort());
    expect(found.next).toBeNull();
    expect((await search(word.toLowerCase())).ids).toEqual(Object.values(ids).sort());
    // The id alone.
    expect((await search(ids.byTitle)).ids).toEqual([ids.byTitle]);
  });

  it("takes % and _ as plain characters, not wildcards", async () => {
    expect((await search(`% off_${word}`)).ids).toEqual([ids.literal]);
    // "_" would match any one character as a wildcard; here it matches only an underscore.
    expect((await search(`${word.slice(0, 2)}_${word.slice(3)}`)).ids).toEqual([]);
  });

  it("pages a search by id with after, like the plain list", async () => {
    const first = await search(word, "&limit=3");
    expect(first.ids).toHaveLength(3);
    expect(first.next).toBe(first.ids[2]);
    const second = await search(word, `&limit=3&after=${encodeURIComponent(first.next ?? "")}`);
    expect(second.next).toBeNull();
    expect([...first.ids, ...second.ids]).toEqual(Object.values(ids).sort());
  });

  it("answers an empty list when nothing matches, and treats an empty q as no search", async () => {
    expect(await search(uid("nothing"))).toEqual({ ids: [], next: null });
    const all = await readJson<Page>("/v1/catalog/products?q=%20%20&limit=1000");
    expect(all.products.map((p) => p.id)).toEqual(expect.arrayContaining(Object.values(ids)));
  });

  it("refuses a search longer than 100 characters, saying the limit", async () => {
    const res = await read(`/v1/catalog/products?q=${"a".repeat(101)}`);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("invalid_query");
    expect(body.error.message).toMatch(/101 characters; the limit is 100/);
  });

  it("needs the API key", async () => {
    expect((await call(`/v1/catalog/products?q=${word}`)).status).toBe(401);
  });
});
