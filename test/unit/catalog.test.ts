import { describe, expect, it } from "vitest";
import { product } from "../../src/model/catalog";

const valid = { id: "shoe-1", title: "Trail Runner", url: "https://shop.example/p/shoe-1" };

describe("catalog products", () => {
  it("fills in the documented defaults", () => {
    expect(product.parse(valid)).toEqual({ ...valid, currency: "USD", categories: [], inStock: true });
  });

  it.each(["/p/shoe-1", "shop.example/p/shoe-1", "javascript:alert(1)", "data:text/html,<script>alert(1)</script>"])(
    "refuses a product URL an email cannot safely link to: %s",
    (url) => {
      const r = product.safeParse({ ...valid, url });
      expect(r.success).toBe(false);
      expect(r.error?.issues[0]?.message).toMatch(/absolute http\(s\) URL/);
    },
  );

  it("applies the same rule to image URLs", () => {
    expect(product.safeParse({ ...valid, imageUrl: "//cdn.example/a.jpg" }).success).toBe(false);
    expect(product.safeParse({ ...valid, imageUrl: "https://cdn.example/a.jpg" }).success).toBe(true);
  });

  it("limits ids to a URL- and key-safe alphabet", () => {
    expect(product.safeParse({ ...valid, id: "sku:42.b_c-d" }).success).toBe(true);
    expect(product.safeParse({ ...valid, id: "a b" }).success).toBe(false);
    expect(product.safeParse({ ...valid, id: "<x>" }).success).toBe(false);
  });

  it("wants an ISO 4217 currency and a non-negative price", () => {
    expect(product.safeParse({ ...valid, currency: "usd" }).success).toBe(false);
    expect(product.safeParse({ ...valid, price: -1 }).success).toBe(false);
    expect(product.safeParse({ ...valid, price: 0, currency: "EUR" }).success).toBe(true);
  });
});
