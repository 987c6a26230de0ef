import { describe, expect, it } from "vitest";
import { type BlockItem, formatPrice, renderRecommendationBlock } from "../../src/model/render";

function item(fields: Partial<BlockItem> = {}): BlockItem {
  return {
    title: "Trail Runner",
    clickUrl: "https://edge.example/c/token-1",
    imageUrl: "https://cdn.example/trail.jpg",
    price: 89.5,
    currency: "USD",
    reason: "Because you like Running Shoes",
    ...fields,
  };
}

const OPTIONS = { heading: "Picked for you", openPixelUrl: "https://edge.example/o/token-o" };

/** Every value of the named attribute, as the HTML carries it (still escaped). */
function attributeValues(html: string, name: string): string[] {
  return [...html.matchAll(new RegExp(`\\s${name}="([^"]*)"`, "g"))].map((m) => m[1] ?? "");
}

describe("recommendation block", () => {
  it("never lets a hostile catalog title through as markup", () => {
    const html = renderRecommendationBlock([item({ title: "<script>alert(1)</script>" })], OPTIONS);
    expect(html).not.toContain("<script");
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
  });

  it("keeps a quote in a URL from breaking out of the href or src attribute", () => {
    const html = renderRecommendationBlock(
      [
        item({
          clickUrl: 'https://edge.example/c/x" onclick="steal()',
          imageUrl: 'https://cdn.example/a.jpg" onerror="steal()',
        }),
      ],
      { heading: "Hi", openPixelUrl: 'https://edge.example/o/y"><script>steal()</script>' },
    );
    expect(html).not.toContain('" onclick=');
    expect(html).not.toContain('" onerror=');
    expect(html).not.toContain("<script");
    expect(attributeValues(html, "href")).toEqual([
      "https://edge.example/c/x&quot; onclick=&quot;steal()",
      "https://edge.example/c/x&quot; onclick=&quot;steal()",
    ]);
    expect(attributeValues(html, "src")).toEqual([
      "https://cdn.example/a.jpg&quot; onerror=&quot;steal()",
      "https://edge.example/o/y&quot;&gt;&lt;script&gt;steal()&lt;/script&gt;",
    ]);
  });

  it("escapes a hostile heading (a trait such as a first name) and reason", () => {
    const html = renderRecommendationBlock([item({ reason: "More from <b>Acme</b>" })], {
      heading: "Picked for you, <img src=x onerror=alert(1)>",
      openPixelUrl: null,
    });
    expect(html).not.toContain("<img src=x");
    expect(html).not.toContain("<b>");
    expect(html).toContain("Picked for you, &lt;img src=x onerror=alert(1)&gt;");
    expect(html).toContain("More from &lt;b&gt;Acme&lt;/b&gt;");
  });

  it("gives every product image the product title as alt text", () => {
    const html = renderRecommendationBlock(
      [item({ title: "Trail Runner" }), item({ title: 'Rock "n" Roll Cap', imageUrl: "https://cdn.example/cap.jpg" })],
      { heading: "Picked for you", openPixelUrl: null },
    );
    const images = [...html.matchAll(/<img\b[^>]*>/g)].map((m) => m[0]);
    expect(images).toHaveLength(2);
    expect(images.map((img) => attributeValues(img, "alt")[0])).toEqual([
      "Trail Runner",
      "Rock &quot;n&quot; Roll Cap",
    ]);
  });

  it("links and loads only the absolute URLs it was given", () => {
    const html = renderRecommendationBlock([item(), item({ clickUrl: "https://edge.example/c/token-2" })], OPTIONS);
    const urls = [...attributeValues(html, "href"), ...attributeValues(html, "src")];
    expect(urls.length).toBeGreaterThan(0);
    for (const url of urls) expect(url).toMatch(/^https:\/\//);
    expect(attributeValues(html, "href")).toContain("https://edge.example/c/token-2");
  });

  it("adds the open pixel as a 1×1 image with empty alt text, and leaves it out without one", () => {
    const withPixel = renderRecommendationBlock([item()], OPTIONS);
    expect(withPixel).toMatch(/<img src="https:\/\/edge\.example\/o\/token-o" alt="" width="1" height="1"/);
    const withoutPixel = renderRecommendationBlock([item()], { ...OPTIONS, openPixelUrl: null });
    expect(withoutPixel).not.toContain("/o/token-o");
    expect(withoutPixel.match(/<img\b/g)).toHaveLength(1);
  });

  it("lays products out in rows of at most three", () => {
    const html = renderRecommendationBlock(
      Array.from({ length: 5 }, (_, i) => item({ title: `P${i}` })),
      OPTIONS,
    );
    const rows = [...html.matchAll(/<tr>(.*?)<\/tr>/g)].map((m) => m[1] ?? "");
    // The heading row, then 3 + 2 products.
    expect(rows.map((r) => (r.match(/class="ep-item"/g) ?? []).length)).toEqual([0, 3, 2]);
    expect(html).toContain('width="33%"');
  });

  it("spreads one or two products across the full width", () => {
    expect(renderRecommendationBlock([item()], OPTIONS)).toContain('width="100%" valign="top"');
    expect(renderRecommendationBlock([item(), item()], OPTIONS)).toContain('width="50%" valign="top"');
  });

  it("shows the price when known and no empty price line otherwise", () => {
    expect(renderRecommendationBlock([item({ price: 89.5 })], OPTIONS)).toContain(">$89.50</div>");
    const noPrice = renderRecommendationBlock([item({ price: null })], OPTIONS);
    expect(noPrice).not.toContain("$");
    expect(noPrice.match(/<div/g)).toHaveLength(1);
  });

  it("leaves out the image link when a product has no image", () => {
    const html = renderRecommendationBlock([item({ imageUrl: null })], { ...OPTIONS, openPixelUrl: null });
    expect(html).not.toContain("<img");
    expect(attributeValues(html, "href")).toHaveLength(1);
  });

  it("uses a table layout with inline styles, which email clients render", () => {
    const html = renderRecommendationBlock([item()], OPTIONS);
    expect(html.startsWith('<table role="presentation"')).toBe(true);
    expect(html).not.toMatch(/<style|class="[^"]*flex|display:\s*flex/);
  });
});

describe("formatPrice", () => {
  it("formats a price in its currency", () => {
    expect(formatPrice(1234.5, "USD")).toBe("$1,234.50");
    expect(formatPrice(12, "EUR")).toBe("€12.00");
  });

  it("falls back to a plain amount and code for a currency Intl does not know", () => {
    expect(formatPrice(3, "US")).toBe("3.00 US");
  });

  it("is empty when the price is unknown", () => {
    expect(formatPrice(null, "USD")).toBe("");
  });

  it("formats every currency right, however many a catalog mixes and in whatever order", () => {
    const currencies = Intl.supportedValuesOf("currency").slice(0, 100);
    const expected = (c: string, n: number) =>
      new Intl.NumberFormat("en-US", { style: "currency", currency: c }).format(n);
    for (const round of [1, 2]) {
      for (const c of currencies) expect(formatPrice(round * 7.5, c)).toBe(expected(c, round * 7.5));
    }
    expect(formatPrice(3, "US")).toBe("3.00 US");
    expect(formatPrice(1234.5, "USD")).toBe("$1,234.50");
  });
});
