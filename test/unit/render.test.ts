import { describe, expect, it } from "vitest";
import {
  type BlockItem,
  formatPrice,
  MAX_HEADING_NAME,
  recommendationHeading,
  renderRecommendationBlock,
} from "../../src/model/render";

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

/** Bidirectional overrides and isolates, direction marks, zero-width characters, C0 and C1 controls. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the test looks for control characters on purpose
const INVISIBLE = /[\u0000-\u001F\u007F-\u009F\u061C\u200B-\u200F\u202A-\u202E\u2060-\u2069\uFEFF]/;

describe("text that reads differently from what it is", () => {
  it("a catalog title with a right-to-left override cannot pass a file name off as a picture", () => {
    const html = renderRecommendationBlock(
      [
        item({
          title: "Holiday photo \u202Egnp.exe",
          reason: "Because you like \u2066Shoes\u2069\u200F",
          currency: "US\u202ED",
        }),
      ],
      { heading: "Picked \u202Efor\u202C you", openPixelUrl: "https://edge.example/o/tok\u200Ben" },
    );
    expect(html).not.toMatch(INVISIBLE);
    expect(html).toContain(">Holiday photo gnp.exe</a>");
    expect(html).toContain('alt="Holiday photo gnp.exe"');
    expect(html).toContain(">Because you like Shoes</div>");
    expect(html).toContain(">Picked for you</td>");
    expect(html).toContain('src="https://edge.example/o/token"');
  });

  it("control characters in a title become spaces, not hidden markup", () => {
    const html = renderRecommendationBlock(
      [item({ title: "Trail\u0000Runner\u0085\nXL", reason: "a\u0007b" })],
      OPTIONS,
    );
    expect(html).not.toMatch(INVISIBLE);
    expect(html).toContain(">Trail Runner XL</a>");
    expect(html).toContain(">a b</div>");
  });
});

describe("recommendation heading", () => {
  it("greets a person by first name on personal picks only", () => {
    expect(recommendationHeading("personalized", { firstName: "Jane" })).toBe("Picked for you, Jane");
    expect(recommendationHeading("personalized", { first_name: "  Jo  " })).toBe("Picked for you, Jo");
    expect(recommendationHeading("personalized", {})).toBe("Picked for you");
    expect(recommendationHeading("trending", { firstName: "Jane" })).toBe("Popular right now");
  });

  it("cuts a 500-character first name with bidi overrides to a short, clean greeting", () => {
    const firstName = `\u202E${"Ann\u202Dabel".repeat(100)}\u2066`;
    expect(firstName.length).toBeGreaterThan(500);
    const heading = recommendationHeading("personalized", { firstName });
    expect(heading).not.toMatch(INVISIBLE);
    const name = heading.slice("Picked for you, ".length);
    expect(Array.from(name)).toHaveLength(MAX_HEADING_NAME);
    expect(name).toBe(`${"Annabel".repeat(5)}Anna…`);
    const html = renderRecommendationBlock([item()], { heading, openPixelUrl: null });
    expect(html).toContain(`>${heading}</td>`);
    expect(html).not.toMatch(INVISIBLE);
  });

  it("never splits a character made of two code units when cutting", () => {
    const heading = recommendationHeading("personalized", { firstName: "😀".repeat(100) });
    expect(heading).toBe(`Picked for you, ${"😀".repeat(MAX_HEADING_NAME - 1)}…`);
  });

  it("ignores a first name that is not text or is only invisible characters", () => {
    expect(recommendationHeading("personalized", { firstName: 42 })).toBe("Picked for you");
    expect(recommendationHeading("personalized", { firstName: "\u202E\u200B \u2069" })).toBe("Picked for you");
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
