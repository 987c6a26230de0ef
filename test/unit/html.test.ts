import { describe, expect, it } from "vitest";
import { cleanText, escapeHtml, truncateText } from "../../src/model/html";

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

describe("cleanText", () => {
  it.each([
    ["\u202A", "left-to-right embedding"],
    ["\u202B", "right-to-left embedding"],
    ["\u202C", "pop directional formatting"],
    ["\u202D", "left-to-right override"],
    ["\u202E", "right-to-left override"],
    ["\u2066", "left-to-right isolate"],
    ["\u2067", "right-to-left isolate"],
    ["\u2068", "first strong isolate"],
    ["\u2069", "pop directional isolate"],
    ["\u200E", "left-to-right mark"],
    ["\u200F", "right-to-left mark"],
    ["\u061C", "Arabic letter mark"],
    ["\u200B", "zero-width space"],
    ["\u200D", "zero-width joiner"],
    ["\uFEFF", "byte-order mark"],
  ])("removes %j (%s)", (ch) => {
    expect(cleanText(`photo${ch}.png`)).toBe("photo.png");
    expect(escapeHtml(`photo${ch}.png`)).toBe("photo.png");
  });

  it("turns C0 and C1 control characters into a space", () => {
    expect(cleanText("a\u0000b\tc\r\nd\u007Fe\u0085f\u009Fg")).toBe("a b c d e f g");
  });

  it("shows the file name an override was hiding, escaped", () => {
    expect(escapeHtml("<b>\u202Egnp.exe</b>")).toBe("&lt;b&gt;gnp.exe&lt;/b&gt;");
  });
});

describe("truncateText", () => {
  it("keeps short text whole and cuts long text to the limit with an ellipsis", () => {
    expect(truncateText("  Jane  ", 40)).toBe("Jane");
    expect(truncateText("x".repeat(40), 40)).toBe("x".repeat(40));
    expect(truncateText("x".repeat(41), 40)).toBe(`${"x".repeat(39)}…`);
  });
});
