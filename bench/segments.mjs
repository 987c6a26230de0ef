/**
 * The audiences and computed traits the ingest benchmark evaluates on every
 * event: 20 of each, over the events the benchmark's visits send (category
 * pages, product views, adds to cart), in the shapes a marketing team
 * defines — counts and sums in rolling windows, favourites, distinct counts,
 * cart abandoners, category and brand affinities, consent.
 */

const traits = {
  views_24h: { aggregation: "count", event: "Product Viewed", window: "24h" },
  views_7d: { aggregation: "count", event: "Product Viewed", window: "7d" },
  views_lifetime: { aggregation: "count", event: "Product Viewed", window: "lifetime" },
  adds_7d: { aggregation: "count", event: "Product Added", window: "7d" },
  adds_lifetime: { aggregation: "count", event: "Product Added", window: "lifetime" },
  cart_value_7d: { aggregation: "sum", event: "Product Added", property: "price", window: "7d" },
  max_price_viewed_30d: { aggregation: "max", event: "Product Viewed", property: "price", window: "30d" },
  min_price_viewed_30d: { aggregation: "min", event: "Product Viewed", property: "price", window: "30d" },
  mean_price_viewed_30d: { aggregation: "mean", event: "Product Viewed", property: "price", window: "30d" },
  first_category: { aggregation: "first", event: "Product Viewed", property: "category", window: "lifetime" },
  last_category_7d: { aggregation: "last", event: "Product Viewed", property: "category", window: "7d" },
  favourite_category_30d: {
    aggregation: "most_frequent",
    event: "Product Viewed",
    property: "category",
    window: "30d",
  },
  favourite_brand_30d: { aggregation: "most_frequent", event: "Product Viewed", property: "brand", window: "30d" },
  brands_seen_90d: { aggregation: "unique_count", event: "Product Viewed", property: "brand", window: "90d" },
  categories_seen: { aggregation: "unique_count", event: "Product Viewed", property: "category", window: "lifetime" },
  pages_24h: { aggregation: "count", event: "Page Viewed", window: "24h" },
  last_product_added_30d: { aggregation: "last", event: "Product Added", property: "product_id", window: "30d" },
  orders_lifetime: { aggregation: "count", event: "Order Completed", window: "lifetime" },
  revenue_90d: { aggregation: "sum", event: "Order Completed", property: "revenue", window: "90d" },
  shoe_views_7d: {
    aggregation: "count",
    event: "Product Viewed",
    where: { category: "Running Shoes" },
    window: "7d",
  },
};

const addedNotOrdered = (within) => ({
  all: [{ event: "Product Added", within }, { not: { event: "Order Completed", within } }],
});

const audiences = {
  "cart-abandoners-24h": addedNotOrdered("24h"),
  "cart-abandoners-7d": addedNotOrdered("7d"),
  "active-1h": { event: "*", within: "1h" },
  "lapsed-30d": { not: { event: "*", within: "30d" } },
  "browsers-no-cart-7d": {
    all: [{ event: "Product Viewed", within: "7d", atLeast: 3 }, { not: { event: "Product Added", within: "7d" } }],
  },
  "heavy-viewers-24h": { event: "Product Viewed", within: "24h", atLeast: 20 },
  "shoe-lovers": { affinity: "category:running-shoes", op: "gt", value: 5 },
  "stride-fans": { affinity: "brand:stride", op: "gte", value: 3 },
  "big-carts": { computed: "cart_value_7d", op: "gt", value: 200 },
  "repeat-buyers": { computed: "orders_lifetime", op: "gte", value: 2 },
  "first-time-buyers": { computed: "orders_lifetime", op: "eq", value: 1 },
  "never-bought": {
    all: [
      { computed: "orders_lifetime", op: "eq", value: 0 },
      { event: "*", within: "30d" },
    ],
  },
  "many-brands": { computed: "brands_seen_90d", op: "gte", value: 3 },
  "premium-browsers": { computed: "max_price_viewed_30d", op: "gte", value: 150 },
  "shoe-browsers-personalized": {
    all: [{ consent: "personalization" }, { computed: "shoe_views_7d", op: "gte", value: 2 }],
  },
  "page-readers": { event: "Page Viewed", within: "24h", atLeast: 2 },
  "gold-plan": { trait: "plan", op: "eq", value: "gold" },
  "has-email": { trait: "email", op: "exists" },
  "engaged-not-buying": {
    any: [
      { computed: "views_7d", op: "gte", value: 30 },
      { computed: "adds_7d", op: "gte", value: 5 },
    ],
  },
  "cheap-and-cheerful": { computed: "mean_price_viewed_30d", op: "lt", value: 40 },
};

async function call(base, headers, method, path, body) {
  const res = await fetch(`${base}${path}`, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Defines the 20 traits and 20 audiences, and waits for every audience's backfill to finish. */
export async function defineSegments(base, headers, timeoutMs = 300_000) {
  for (const [key, definition] of Object.entries(traits)) {
    await call(base, headers, "PUT", `/v1/computed-traits/${key}`, definition);
  }
  for (const [key, rule] of Object.entries(audiences)) {
    await call(base, headers, "PUT", `/v1/audiences/${key}`, { name: key, rule });
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { items } = await call(base, headers, "GET", "/v1/audiences");
    if (items.every((a) => a.backfill === null || a.backfill.status === "done")) return items.length;
    await new Promise((r) => setTimeout(r, 1_000));
  }
  throw new Error("audience backfills did not finish");
}

/** Deletes them all again (audiences first: they read the traits). */
export async function removeSegments(base, headers) {
  for (const key of Object.keys(audiences)) await call(base, headers, "DELETE", `/v1/audiences/${key}`);
  for (const key of Object.keys(traits)) await call(base, headers, "DELETE", `/v1/computed-traits/${key}`);
}

export const SEGMENT_COUNTS = { traits: Object.keys(traits).length, audiences: Object.keys(audiences).length };
