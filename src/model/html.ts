/**
 * Text made safe for e-mail HTML: anything that came from a catalog, a trait
 * or a request is cleaned of invisible control characters and HTML-escaped.
 */

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
  "`": "&#96;",
};

/**
 * Bidirectional overrides, embeddings and isolates (U+202A–U+202E,
 * U+2066–U+2069), direction marks (U+200E, U+200F, U+061C), zero-width
 * characters and the byte-order mark: invisible, and able to make text read
 * differently from what it is (`\u202Egnp.exe` shows as `exe.png`).
 */
const INVISIBLE_FORMAT = /[\u061C\u200B-\u200F\u202A-\u202E\u2060-\u2069\uFEFF]/g;
/** C0 and C1 controls (tabs and line breaks included): never part of a title or a name shown in an e-mail. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROLS = /[\u0000-\u001F\u007F-\u009F]+/g;

/** The text with invisible format characters removed and control characters turned into a space. */
export function cleanText(value: unknown): string {
  return String(value ?? "")
    .replace(INVISIBLE_FORMAT, "")
    .replace(CONTROLS, " ");
}

/**
 * Every string inside a JSON value cleaned as by `cleanText`: the merge
 * call's JSON, whose traits and titles an ESP's template prints as they are.
 */
export function cleanJsonText<T>(value: T): T {
  if (typeof value === "string") return cleanText(value) as T;
  if (Array.isArray(value)) return value.map((v) => cleanJsonText(v)) as T;
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [cleanText(k), cleanJsonText(v)])) as T;
  }
  return value;
}

/** `cleanText`, then shortened to `max` characters (whole code points) with an ellipsis when longer. */
export function truncateText(value: unknown, max: number): string {
  const chars = Array.from(cleanText(value).trim());
  return chars.length <= max ? chars.join("") : `${chars.slice(0, max - 1).join("")}…`;
}

export function escapeHtml(value: unknown): string {
  return cleanText(value).replace(/[&<>"'`]/g, (c) => ESCAPES[c] ?? c);
}
