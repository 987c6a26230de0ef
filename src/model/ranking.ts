/**
 * Recommendation ranking: scores catalog products by a person's decayed
 * affinities, boosts what they viewed but did not buy, drops what they bought
 * and what is out of stock, keeps at most two picks per category, and falls
 * back to trending products so the answer is never empty while anything is in
 * stock. Pure: the catalog index is built once per catalog refresh, and a
 * ranking touches only the products the person's top dimensions point at.
 */
import type { Product } from "./catalog";
import { slug } from "./commerce";

export interface CatalogIndex {
  byId: ReadonlyMap<string, Product>;
  byCategory: ReadonlyMap<string, Product[]>;
  byBrand: ReadonlyMap<string, Product[]>;
  /** In-stock products, most popular first (catalog order breaks ties). */
  trending: readonly Product[];
}

export interface ProductHistory {
  productId: string;
  lastViewedAt: number | null;
  lastAddedAt: number | null;
  lastPurchasedAt: number | null;
}

export interface PersonalSignals {
  /** Decayed affinities, strongest first. */
  affinities: readonly { dimension: string; score: number }[];
  products: readonly ProductHistory[];
}

export interface Recommendation {
  product: Product;
  score: number;
  reason: string;
}

export interface RecommendationResult {
  items: Recommendation[];
  strategy: "personalized" | "trending";
}

export const MAX_PER_CATEGORY = 2;
const WEIGHT = { product: 1, category: 0.6, brand: 0.4 } as const;
const VIEWED_NOT_BOUGHT_BOOST = 1.5;
/** How many of the person's strongest dimensions seed the candidate set. */
const SEED_DIMENSIONS = 24;

export function primaryCategory(p: Product): string | null {
  const first = p.categories[0];
  return first ? slug(first) : null;
}

/** Builds the ranking index from the catalog and a popularity score per product id. */
export function buildCatalogIndex(products: readonly Product[], popularity: ReadonlyMap<string, number>): CatalogIndex {
  const byId = new Map<string, Product>();
  const byCategory = new Map<string, Product[]>();
  const byBrand = new Map<string, Product[]>();
  const inStock: { p: Product; order: number }[] = [];
  products.forEach((p, order) => {
    byId.set(p.id, p);
    if (!p.inStock) return;
    inStock.push({ p, order });
    for (const c of new Set(p.categories.map(slug))) {
      if (c) pushTo(byCategory, c, p);
    }
    const b = p.brand ? slug(p.brand) : "";
    if (b) pushTo(byBrand, b, p);
  });
  inStock.sort((a, b) => (popularity.get(b.p.id) ?? 0) - (popularity.get(a.p.id) ?? 0) || a.order - b.order);
  return { byId, byCategory, byBrand, trending: inStock.map((x) => x.p) };
}

function pushTo(map: Map<string, Product[]>, key: string, p: Product) {
  const list = map.get(key);
  if (list) list.push(p);
  else map.set(key, [p]);
}

interface Scored {
  product: Product;
  score: number;
  reason: string;
}

function scoreProduct(
  p: Product,
  affinity: ReadonlyMap<string, number>,
  history: ReadonlyMap<string, ProductHistory>,
): Scored {
  const own = (affinity.get(`product:${p.id}`) ?? 0) * WEIGHT.product;
  let category = 0;
  let categoryName = "";
  for (const name of p.categories) {
    const s = (affinity.get(`category:${slug(name)}`) ?? 0) * WEIGHT.category;
    if (s > category) {
      category = s;
      categoryName = name;
    }
  }
  const brand = p.brand ? (affinity.get(`brand:${slug(p.brand)}`) ?? 0) * WEIGHT.brand : 0;
  const h = history.get(p.id);
  const viewedNotBought = Boolean(h && (h.lastViewedAt || h.lastAddedAt));
  const score = (own + category + brand) * (viewedNotBought ? VIEWED_NOT_BOUGHT_BOOST : 1);

  // The most specific true statement about this person and this product.
  let reason: string;
  if (h?.lastAddedAt) reason = "Still in your basket";
  else if (viewedNotBought) reason = "You viewed this recently";
  else if (category >= brand && category > 0) reason = `Because you like ${categoryName}`;
  else if (brand > 0) reason = `More from ${p.brand}`;
  else reason = "Popular right now";
  return { product: p, score, reason };
}

/**
 * Ranks up to `limit` products for a person (or for nobody: `signals` null
 * gives the trending list).
 */
export function recommend(index: CatalogIndex, signals: PersonalSignals | null, limit: number): RecommendationResult {
  const history = new Map((signals?.products ?? []).map((h) => [h.productId, h]));
  const purchased = new Set((signals?.products ?? []).filter((h) => h.lastPurchasedAt).map((h) => h.productId));
  const affinity = new Map((signals?.affinities ?? []).map((a) => [a.dimension, a.score]));

  // Candidates: only products that one of the person's top dimensions names.
  const candidates = new Map<string, Product>();
  for (const { dimension } of signals?.affinities.slice(0, SEED_DIMENSIONS) ?? []) {
    const colon = dimension.indexOf(":");
    const kind = dimension.slice(0, colon);
    const key = dimension.slice(colon + 1);
    if (kind === "product") {
      const p = index.byId.get(key);
      if (p) candidates.set(p.id, p);
    } else {
      for (const p of (kind === "category" ? index.byCategory : index.byBrand).get(key) ?? []) candidates.set(p.id, p);
    }
  }

  const scored: Scored[] = [];
  for (const p of candidates.values()) {
    if (!p.inStock || purchased.has(p.id)) continue;
    const s = scoreProduct(p, affinity, history);
    if (s.score > 0) scored.push(s);
  }
  scored.sort((a, b) => b.score - a.score || a.product.id.localeCompare(b.product.id));

  const picked: Recommendation[] = [];
  const seen = new Set<string>();
  const perCategory = new Map<string, number>();
  const take = (s: Scored) => {
    if (picked.length >= limit || seen.has(s.product.id)) return;
    const c = primaryCategory(s.product);
    if (c && (perCategory.get(c) ?? 0) >= MAX_PER_CATEGORY) return;
    if (c) perCategory.set(c, (perCategory.get(c) ?? 0) + 1);
    seen.add(s.product.id);
    picked.push({ product: s.product, score: Math.round(s.score * 10_000) / 10_000, reason: s.reason });
  };
  for (const s of scored) take(s);
  const personalized = picked.length > 0;
  for (const p of index.trending) {
    if (picked.length >= limit) break;
    if (!purchased.has(p.id)) take({ product: p, score: 0, reason: "Popular right now" });
  }
  // Someone who bought everything in stock still gets a full block, never an empty one.
  if (picked.length === 0) {
    for (const p of index.trending) take({ product: p, score: 0, reason: "Popular right now" });
  }
  return { items: picked, strategy: personalized ? "personalized" : "trending" };
}
