/**
 * Reads Segment e-commerce v2 events (https://segment.com/docs/connections/spec/ecommerce/v2/)
 * into product interactions and the affinity dimensions they feed:
 * `category:<slug>`, `brand:<slug>`, `product:<id>`.
 */
import type { ProfileEvent } from "./messages";
import type { InteractionKind } from "./settings";

export interface ProductRef {
  productId: string | null;
  category: string | null;
  brand: string | null;
}

export interface Interaction extends ProductRef {
  kind: InteractionKind;
}

const TRACK_KINDS: Record<string, InteractionKind> = {
  "product viewed": "viewed",
  "product clicked": "viewed",
  "product list viewed": "list_viewed",
  "product list filtered": "list_viewed",
  "product added": "added",
  "checkout started": "checkout",
  "order completed": "purchased",
  "email link clicked": "email_click",
};

/** Events whose `products[]` array carries the items (Segment spec). */
const LIST_EVENTS = new Set<InteractionKind>(["list_viewed", "checkout", "purchased"]);

/** `Running Shoes ` → `running-shoes`; `Acme & Co.` → `acme-co`. */
export function slug(value: string): string {
  return value
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 64);
}

function text(value: unknown): string | null {
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  if (typeof value !== "string") return null;
  const t = value.trim();
  return t ? t.slice(0, 128) : null;
}

function productRef(p: Record<string, unknown>): ProductRef {
  return {
    productId: text(p.product_id) ?? text(p.sku) ?? text(p.id),
    category: text(p.category),
    brand: text(p.brand),
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** At most this many line items of one event count (a 10,000-item order is not 10,000 signals). */
const MAX_ITEMS = 50;

/** The product interactions an event expresses, possibly none. */
export function interactionsOf(event: ProfileEvent): Interaction[] {
  const props = event.properties;
  if (event.type === "page" || event.type === "screen") {
    const category = text(props.category);
    return category ? [{ kind: "page", productId: null, category, brand: null }] : [];
  }
  if (event.type !== "track" || !event.name) return [];
  const kind = TRACK_KINDS[event.name.toLowerCase()];
  if (!kind) return [];

  const out: Interaction[] = [];
  if (LIST_EVENTS.has(kind) && Array.isArray(props.products)) {
    for (const item of props.products.slice(0, MAX_ITEMS)) {
      if (isRecord(item)) out.push({ kind, ...productRef(item) });
    }
  }
  const own = productRef(props);
  if (own.productId || own.category || own.brand) out.push({ kind, ...own });
  return out;
}

/** Affinity dimensions one interaction touches. */
export function dimensionsOf(ref: ProductRef): string[] {
  const dims: string[] = [];
  if (ref.productId) dims.push(`product:${ref.productId}`);
  const category = ref.category ? slug(ref.category) : "";
  if (category) dims.push(`category:${category}`);
  const brand = ref.brand ? slug(ref.brand) : "";
  if (brand) dims.push(`brand:${brand}`);
  return dims;
}

/** Order revenue per Segment: `revenue`, else `total`, else the sum of line items. */
/** No single order is worth more than this; anything larger is a broken client, and counted as 0. */
export const MAX_ORDER_REVENUE = 1e9;

export function revenueOf(event: ProfileEvent): number {
  if (event.type !== "track" || event.name?.toLowerCase() !== "order completed") return 0;
  const p = event.properties;
  for (const key of ["revenue", "total"] as const) {
    const v = p[key];
    if (typeof v === "number" && Number.isFinite(v) && v >= 0) return v <= MAX_ORDER_REVENUE ? v : 0;
  }
  if (!Array.isArray(p.products)) return 0;
  let sum = 0;
  for (const item of p.products.slice(0, MAX_ITEMS)) {
    if (!isRecord(item)) continue;
    const price = Number(item.price);
    const qty = item.quantity === undefined ? 1 : Number(item.quantity);
    if (Number.isFinite(price) && Number.isFinite(qty) && price >= 0 && qty > 0) sum += price * qty;
  }
  return sum <= MAX_ORDER_REVENUE ? Math.round(sum * 100) / 100 : 0;
}
