import { describe, expect, it } from "vitest";
import type { Product } from "../../src/model/catalog";
import {
  buildCatalogIndex,
  MAX_PER_CATEGORY,
  type PersonalSignals,
  type ProductHistory,
  primaryCategory,
  recommend,
} from "../../src/model/ranking";
import { catalogProduct, T0 } from "./fixtures";

const shoe = (id: string, extra: Record<string, unknown> = {}) =>
  catalogProduct({ id, categories: ["Running Shoes"], brand: "Acme", ...extra });
const hat = (id: string, extra: Record<string, unknown> = {}) =>
  catalogProduct({ id, categories: ["Hats"], brand: "Hatters & Co.", ...extra });
const bag = (id: string, extra: Record<string, unknown> = {}) =>
  catalogProduct({ id, categories: ["Bags"], brand: "Carry", ...extra });

const CATALOG: Product[] = [
  shoe("shoe-1"),
  shoe("shoe-2"),
  shoe("shoe-3"),
  shoe("shoe-4"),
  shoe("shoe-sold-out", { inStock: false }),
  hat("hat-1"),
  hat("hat-2"),
  bag("bag-1"),
  bag("bag-2"),
];
/** Bags are what everyone buys this week; hats next; shoes rarely. */
const POPULARITY = new Map([
  ["bag-2", 90],
  ["bag-1", 80],
  ["hat-1", 50],
  ["shoe-sold-out", 1_000],
]);
const INDEX = buildCatalogIndex(CATALOG, POPULARITY);

function signals(affinities: Record<string, number>, products: ProductHistory[] = []): PersonalSignals {
  return {
    affinities: Object.entries(affinities)
      .map(([dimension, score]) => ({ dimension, score }))
      .sort((a, b) => b.score - a.score),
    products,
  };
}

function history(productId: string, fields: Partial<ProductHistory>): ProductHistory {
  return { productId, lastViewedAt: null, lastAddedAt: null, lastPurchasedAt: null, ...fields };
}

const ids = (r: { items: { product: Product }[] }) => r.items.map((i) => i.product.id);

describe("catalog index", () => {
  it("lists in-stock products for trending, most popular first and catalog order for ties", () => {
    expect(INDEX.trending.map((p) => p.id)).toEqual([
      "bag-2",
      "bag-1",
      "hat-1",
      "shoe-1",
      "shoe-2",
      "shoe-3",
      "shoe-4",
      "hat-2",
    ]);
  });

  it("keeps sold-out products findable by id but out of categories and brands", () => {
    expect(INDEX.byId.has("shoe-sold-out")).toBe(true);
    expect(INDEX.byCategory.get("running-shoes")?.map((p) => p.id)).not.toContain("shoe-sold-out");
    expect(INDEX.byBrand.get("hatters-co")?.map((p) => p.id)).toEqual(["hat-1", "hat-2"]);
  });

  it("a product's primary category is the slug of its first category", () => {
    expect(primaryCategory(catalogProduct({ id: "x", categories: ["Trail Running", "Shoes"] }))).toBe("trail-running");
    expect(primaryCategory(catalogProduct({ id: "y" }))).toBeNull();
  });
});

describe("personalized ranking", () => {
  it("orders products by the person's affinities", () => {
    const r = recommend(INDEX, signals({ "category:hats": 5, "category:bags": 2 }), 4);
    expect(r.strategy).toBe("personalized");
    expect(ids(r)).toEqual(["hat-1", "hat-2", "bag-1", "bag-2"]);
  });

  it("a liked product ranks above its category-mates", () => {
    const r = recommend(INDEX, signals({ "category:running-shoes": 3, "product:shoe-2": 3 }), 2);
    expect(ids(r)[0]).toBe("shoe-2");
  });

  it("says why: the category, the brand, or popularity", () => {
    const byCategory = recommend(INDEX, signals({ "category:hats": 3 }), 1);
    expect(byCategory.items.map((i) => i.reason)).toEqual(["Because you like Hats"]);
    const byBrand = recommend(INDEX, signals({ "brand:carry": 3 }), 1);
    expect(byBrand.items.map((i) => i.reason)).toEqual(["More from Carry"]);
  });

  it("boosts a product the person viewed but did not buy, and says so", () => {
    const base = signals({ "category:running-shoes": 4 });
    const plain = recommend(INDEX, base, 2);
    expect(ids(plain)).toEqual(["shoe-1", "shoe-2"]);

    const viewed = recommend(INDEX, { ...base, products: [history("shoe-2", { lastViewedAt: T0 })] }, 2);
    expect(ids(viewed)).toEqual(["shoe-2", "shoe-1"]);
    const [boosted, other] = viewed.items;
    expect(boosted?.reason).toBe("You viewed this recently");
    expect(boosted?.score).toBeCloseTo(1.5 * (other?.score ?? Number.NaN), 4);
  });

  it("reminds the person of what is still in their basket", () => {
    const r = recommend(
      INDEX,
      signals({ "category:running-shoes": 4 }, [history("shoe-3", { lastViewedAt: T0, lastAddedAt: T0 })]),
      1,
    );
    expect(r.items.map((i) => [i.product.id, i.reason])).toEqual([["shoe-3", "Still in your basket"]]);
  });

  it("never recommends what the person already bought", () => {
    const bought = [
      history("hat-1", { lastViewedAt: T0, lastPurchasedAt: T0 }),
      history("bag-2", { lastPurchasedAt: T0 }),
    ];
    const r = recommend(INDEX, signals({ "product:hat-1": 9, "category:hats": 5 }, bought), 8);
    expect(ids(r)).not.toContain("hat-1");
    // Not even as a trending filler, although bag-2 is the most popular product.
    expect(ids(r)).not.toContain("bag-2");
    expect(ids(r)[0]).toBe("hat-2");
  });

  it("never recommends what is out of stock, however strong the affinity", () => {
    const r = recommend(INDEX, signals({ "product:shoe-sold-out": 100, "category:running-shoes": 1 }), 8);
    expect(ids(r)).not.toContain("shoe-sold-out");
    expect(r.items.every((i) => i.product.inStock)).toBe(true);
  });

  it(`shows at most ${MAX_PER_CATEGORY} products of one category, filling up with others`, () => {
    const r = recommend(INDEX, signals({ "category:running-shoes": 10, "brand:acme": 10 }), 5);
    expect(r.items).toHaveLength(5);
    const perCategory = new Map<string, number>();
    for (const i of r.items) {
      const c = primaryCategory(i.product) ?? "";
      perCategory.set(c, (perCategory.get(c) ?? 0) + 1);
    }
    expect(Math.max(...perCategory.values())).toBe(MAX_PER_CATEGORY);
    expect(ids(r).slice(0, 2)).toEqual(["shoe-1", "shoe-2"]);
    // The rest comes from trending, still two per category: bags, then a hat.
    expect(ids(r).slice(2)).toEqual(["bag-2", "bag-1", "hat-1"]);
  });

  it("returns no more than the limit and no product twice", () => {
    const r = recommend(INDEX, signals({ "category:hats": 3, "brand:hatters-co": 3, "product:hat-1": 3 }), 3);
    expect(r.items).toHaveLength(3);
    expect(new Set(ids(r)).size).toBe(3);
  });
});

describe("trending fallback", () => {
  it("answers the trending list for nobody in particular", () => {
    const r = recommend(INDEX, null, 3);
    expect(r.strategy).toBe("trending");
    expect(ids(r)).toEqual(["bag-2", "bag-1", "hat-1"]);
    expect(r.items.every((i) => i.reason === "Popular right now" && i.score === 0)).toBe(true);
  });

  it("answers the trending list for a cold profile with no affinities", () => {
    const r = recommend(INDEX, signals({}), 3);
    expect(r.strategy).toBe("trending");
    expect(ids(r)).toEqual(["bag-2", "bag-1", "hat-1"]);
  });

  it("falls back to trending when the person's affinities point at nothing in the catalog", () => {
    const r = recommend(INDEX, signals({ "category:kayaks": 7, "product:gone": 3, "brand:nobody": 2 }), 2);
    expect(r.strategy).toBe("trending");
    expect(ids(r)).toEqual(["bag-2", "bag-1"]);
  });

  it("is never empty while something is in stock", () => {
    const onlyOne = buildCatalogIndex(
      [shoe("a", { inStock: false }), hat("b"), bag("c", { inStock: false })],
      new Map(),
    );
    for (const s of [null, signals({}), signals({ "product:a": 5 }), signals({ "category:bags": 5 })]) {
      expect(ids(recommend(onlyOne, s, 3))).toEqual(["b"]);
    }
  });

  it("someone who bought everything in stock still gets a full block of the most popular", () => {
    const everything = INDEX.trending.map((p) => history(p.id, { lastPurchasedAt: T0 }));
    const r = recommend(INDEX, signals({ "category:running-shoes": 5 }, everything), 3);
    expect(r.strategy).toBe("trending");
    expect(r.items).toHaveLength(3);
    expect(ids(r)[0]).toBe("bag-2");
  });

  it("is empty only when nothing at all is in stock", () => {
    const soldOut = buildCatalogIndex([shoe("a", { inStock: false })], new Map());
    expect(recommend(soldOut, null, 3).items).toEqual([]);
  });
});
