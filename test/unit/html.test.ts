import { describe, expect, it } from "vitest";
import { escapeHtml } from "../../src/model/html";

describe("escapeHtml", () => {
  it.each([
    ["&", "&amp;"],
    ["<", "&lt;"],
    [">", "&gt;"],
    ['"', "&quot;"],
    ["'", "&#39;"],
    ["`", "&#96;"],
  ])("escapes %s as %s", (raw, escaped) => {
    expect(escapeHtml(`a${raw}b`)).toBe(`a${escaped}b`);
  });

  it("leaves no character that could open a tag or close an attribute", () => {
    const hostile = `<script>alert("x")</script><img src=x onerror='y'>\`z\`&`;
    expect(escapeHtml(hostile)).not.toMatch(/[<>"'`]/);
    expect(escapeHtml(hostile)).toBe(
      "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=&#39;y&#39;&gt;&#96;z&#96;&amp;",
    );
  });

  it("escapes an ampersand that already looks like an entity, so text reads back as typed", () => {
    expect(escapeHtml("Fish &amp; Chips")).toBe("Fish &amp;amp; Chips");
  });

  it("keeps ordinary and non-ASCII text as it is", () => {
    expect(escapeHtml("Crème brûlée — 20% off 🍮")).toBe("Crème brûlée — 20% off 🍮");
  });

  it("renders missing values as empty text and other values as their string form", () => {
    expect(escapeHtml(null)).toBe("");
    expect(escapeHtml(undefined)).toBe("");
    expect(escapeHtml(42)).toBe("42");
    expect(escapeHtml(false)).toBe("false");
  });
});
