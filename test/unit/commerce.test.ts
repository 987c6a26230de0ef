import { describe, expect, it } from "vitest";
import { dimensionsOf, interactionsOf, revenueOf, slug } from "../../src/model/commerce";
import { defined, profileEvent } from "./fixtures";

const track = (name: string, properties: Record<string, unknown>) => profileEvent({ type: "track", name, properties });

describe("slug", () => {
  it.each([
    ["Running Shoes ", "running-shoes"],
    ["Acme & Co.", "acme-co"],
    ["Crème Brûlée", "creme-brulee"],
    ["--Men's / Boots--", "men-s-boots"],
    ["!!!", ""],
  ])("turns %j into %j", (raw, expected) => {
    expect(slug(raw)).toBe(expected);
  });

  it("is at most 64 characters", () => {
    expect(slug("a".repeat(100))).toHaveLength(64);
  });
});

describe("Segment e-commerce events", () => {
  it("a product view touches the product, its category and its brand", () => {
    const [i, ...rest] = interactionsOf(
      track("Product Viewed", { product_id: "shoe-1", category: "Running Shoes", brand: "Acme & Co." }),
    );
    expect(rest).toEqual([]);
    expect(i).toEqual({ kind: "viewed", productId: "shoe-1", category: "Running Shoes", brand: "Acme & Co." });
    expect(dimensionsOf(defined(i))).toEqual(["product:shoe-1", "category:running-shoes", "brand:acme-co"]);
  });

  it.each([
    ["Product Viewed", "viewed"],
    ["product clicked", "viewed"],
    ["Product List Viewed", "list_viewed"],
    ["Product List Filtered", "list_viewed"],
    ["Product Added", "added"],
    ["Checkout Started", "checkout"],
    ["Order Completed", "purchased"],
    ["Email Link Clicked", "email_click"],
  ])("reads %j as a %s interaction, whatever the letter case", (name, kind) => {
    expect(interactionsOf(track(name, { product_id: "p" })).map((i) => i.kind)).toEqual([kind]);
  });

  it("ignores events that are not about products", () => {
    expect(interactionsOf(track("Signed Up", { product_id: "p" }))).toEqual([]);
    expect(interactionsOf(track("Product Viewed", {}))).toEqual([]);
    expect(interactionsOf(profileEvent({ type: "identify", traits: { category: "x" } }))).toEqual([]);
  });

  it("falls back from product_id to sku to id, and reads numeric ids", () => {
    expect(interactionsOf(track("Product Viewed", { sku: "SKU-9", id: "x" }))[0]?.productId).toBe("SKU-9");
    expect(interactionsOf(track("Product Viewed", { id: 77 }))[0]?.productId).toBe("77");
    expect(interactionsOf(track("Product Viewed", { product_id: "  ", sku: "S" }))[0]?.productId).toBe("S");
  });

  it("an order counts every line item, up to 50", () => {
    const products = Array.from({ length: 60 }, (_, n) => ({ product_id: `p${n}`, category: "Bags" }));
    const interactions = interactionsOf(track("Order Completed", { order_id: "o1", products }));
    expect(interactions).toHaveLength(50);
    expect(interactions.every((i) => i.kind === "purchased")).toBe(true);
    expect(interactions.at(-1)?.productId).toBe("p49");
  });

  it("a single-product event's products array is not read as line items", () => {
    const e = track("Product Viewed", { product_id: "a", products: [{ product_id: "b" }] });
    expect(interactionsOf(e).map((i) => i.productId)).toEqual(["a"]);
  });

  it("a page with a category expresses interest in that category", () => {
    const page = profileEvent({ type: "page", properties: { category: "Hats" } });
    expect(interactionsOf(page)).toEqual([{ kind: "page", productId: null, category: "Hats", brand: null }]);
    expect(interactionsOf(profileEvent({ type: "page", properties: {} }))).toEqual([]);
  });

  it("a reference without anything sluggable touches no category or brand", () => {
    expect(dimensionsOf({ productId: null, category: "???", brand: "" })).toEqual([]);
  });
});

describe("order revenue", () => {
  it("takes revenue, else total, else the sum of line items", () => {
    expect(revenueOf(track("Order Completed", { revenue: 25, total: 30 }))).toBe(25);
    expect(revenueOf(track("Order Completed", { total: 30 }))).toBe(30);
    expect(
      revenueOf(
        track("Order Completed", {
          products: [{ price: 19.99, quantity: 2 }, { price: 0.1 }, { price: 0.2, quantity: 1 }],
        }),
      ),
    ).toBe(40.28);
  });

  it("counts an absurd amount as nothing, so sums stay finite all the way to the warehouse", () => {
    expect(revenueOf(track("Order Completed", { revenue: 1e308 }))).toBe(0);
    expect(revenueOf(track("Order Completed", { products: [{ price: 1e300, quantity: 1e10 }] }))).toBe(0);
    expect(revenueOf(track("Order Completed", { revenue: 999_999_999 }))).toBe(999_999_999);
  });

  it("ignores negative, non-numeric and malformed amounts", () => {
    expect(revenueOf(track("Order Completed", { revenue: -5, total: "12" }))).toBe(0);
    expect(
      revenueOf(track("Order Completed", { products: [{ price: -1 }, { price: 5, quantity: 0 }, "x", { price: 3 }] })),
    ).toBe(3);
  });

  it("is zero for anything but a completed order", () => {
    expect(revenueOf(track("Checkout Started", { revenue: 99 }))).toBe(0);
    expect(revenueOf(profileEvent({ type: "page", properties: { revenue: 99 } }))).toBe(0);
  });
});
