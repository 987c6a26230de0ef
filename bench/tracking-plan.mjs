/**
 * A 30-event tracking plan in the shape a shop writes one (Segment's
 * e-commerce v2 events, typed properties, required ids and prices, enums and
 * formats), covering the events the benchmark's visits send, so every
 * measured event is checked against a real schema. Policies `flag`: the
 * visits keep to the plan, so the measurement is the check itself, which
 * every event pays, not the rare write of a violation.
 */

const money = { type: "number", minimum: 0 };
const id = { type: "string", minLength: 1, maxLength: 200 };
const currency = { type: "string", pattern: "^[A-Z]{3}$" };
const product = {
  type: "object",
  required: ["product_id"],
  properties: {
    product_id: id,
    sku: id,
    category: { type: "string", maxLength: 200 },
    name: { type: "string" },
    brand: { type: "string" },
    variant: { type: "string" },
    price: money,
    quantity: { type: "integer", minimum: 1 },
    coupon: { type: "string" },
    position: { type: "integer", minimum: 0 },
    url: { type: "string", format: "uri" },
    image_url: { type: "string", format: "uri" },
  },
};
const productEvent = { ...product, required: ["product_id", "price"], properties: { ...product.properties, currency } };
const order = {
  type: "object",
  required: ["order_id"],
  properties: {
    order_id: id,
    checkout_id: id,
    affiliation: { type: "string" },
    total: money,
    subtotal: money,
    revenue: money,
    shipping: money,
    tax: money,
    discount: money,
    coupon: { type: "string" },
    currency,
    products: { type: "array", maxItems: 200, items: product },
  },
};
const list = {
  type: "object",
  properties: { list_id: id, category: { type: "string" }, products: { type: "array", items: product } },
};
const loose = (required = []) => ({ type: "object", required, additionalProperties: true });

export const trackingPlan = {
  unplanned: "flag",
  violations: "flag",
  traits: {
    type: "object",
    properties: {
      email: { type: "string", format: "email" },
      name: { type: "string" },
      plan: { type: "string", enum: ["free", "silver", "gold"] },
    },
  },
  events: {
    "Products Searched": { type: "object", properties: { query: { type: "string" } } },
    "Product List Viewed": list,
    "Product List Filtered": list,
    "Promotion Viewed": loose(["promotion_id"]),
    "Promotion Clicked": loose(["promotion_id"]),
    "Product Clicked": productEvent,
    "Product Viewed": productEvent,
    "Product Added": productEvent,
    "Product Removed": productEvent,
    "Cart Viewed": { type: "object", properties: { cart_id: id, products: { type: "array", items: product } } },
    "Checkout Started": order,
    "Checkout Step Viewed": loose(["step"]),
    "Checkout Step Completed": loose(["step"]),
    "Payment Info Entered": loose(["checkout_id"]),
    "Order Updated": order,
    "Order Completed": order,
    "Order Refunded": order,
    "Order Cancelled": order,
    "Coupon Entered": loose(["coupon_id"]),
    "Coupon Applied": loose(["coupon_id"]),
    "Coupon Denied": loose(["coupon_id"]),
    "Coupon Removed": loose(["coupon_id"]),
    "Product Added to Wishlist": productEvent,
    "Product Removed from Wishlist": productEvent,
    "Wishlist Product Added to Cart": productEvent,
    "Product Shared": productEvent,
    "Cart Shared": loose(["cart_id"]),
    "Product Reviewed": {
      ...productEvent,
      required: ["product_id"],
      properties: { ...productEvent.properties, rating: { type: "integer", minimum: 1, maximum: 5 } },
    },
    "Signed Up": loose(),
    "Signed In": loose(),
  },
};

export const PLANNED_EVENTS = Object.keys(trackingPlan.events).length;

async function call(base, headers, method, path, body) {
  const res = await fetch(`${base}${path}`, { method, headers, body: body ? JSON.stringify(body) : undefined });
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status}: ${await res.text()}`);
}

/** Puts the plan in force, and waits out the other isolates' refresh (10 s) so every one checks with it. */
export async function definePlan(base, headers) {
  await call(base, headers, "PUT", "/v1/tracking-plan", trackingPlan);
  await new Promise((r) => setTimeout(r, 11_000));
}

export async function removePlan(base, headers) {
  await call(base, headers, "DELETE", "/v1/tracking-plan");
  await new Promise((r) => setTimeout(r, 11_000));
}
