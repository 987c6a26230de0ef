/**
 * The email-safe recommendation block (`{{recommendation_block}}`): table
 * layout and inline styles because Outlook and Gmail ignore stylesheets and
 * flexbox, absolute URLs, alt text on every image, and every string that came
 * from the catalog or a profile cleaned of invisible control characters and
 * HTML-escaped; also the heading above it, which may greet the person.
 */
import { escapeHtml, truncateText } from "./html";

/** A first name longer than this is cut (with an ellipsis): a trait is whatever a sender put there. */
export const MAX_HEADING_NAME = 40;

/** The person's first name from their traits, cleaned and capped, or null. */
export function firstNameOf(traits: Record<string, unknown>): string | null {
  const v = traits.firstName ?? traits.first_name;
  if (typeof v !== "string") return null;
  const name = truncateText(v, MAX_HEADING_NAME);
  return name ? name : null;
}

/** The block's heading: a greeting by name for personal picks, a plain one for trending. */
export function recommendationHeading(
  strategy: "personalized" | "trending" | "static",
  traits: Record<string, unknown>,
): string {
  if (strategy === "static") return "Our picks for you";
  if (strategy !== "personalized") return "Popular right now";
  const name = firstNameOf(traits);
  return name ? `Picked for you, ${name}` : "Picked for you";
}

export interface BlockItem {
  title: string;
  clickUrl: string;
  imageUrl: string | null;
  price: number | null;
  currency: string;
  reason: string;
}

export interface BlockOptions {
  heading: string;
  /** Absolute URL of the open-tracking pixel, or null. */
  openPixelUrl: string | null;
}

/**
 * One formatter per currency, made once: constructing an `Intl.NumberFormat`
 * builds an ICU formatter in native memory that lives until the garbage
 * collector reaches its wrapper, and costs more than formatting itself. A merge
 * call renders several prices, so a formatter per price piled up native memory
 * under load. Currencies come from the catalog; the cache stops growing at
 * MAX_FORMATTERS distinct codes (later ones are formatted without caching).
 */
const formatters = new Map<string, Intl.NumberFormat>();
const MAX_FORMATTERS = 64;

function currencyFormatter(currency: string): Intl.NumberFormat {
  let formatter = formatters.get(currency);
  if (!formatter) {
    formatter = new Intl.NumberFormat("en-US", { style: "currency", currency });
    if (formatters.size < MAX_FORMATTERS) formatters.set(currency, formatter);
  }
  return formatter;
}

export function formatPrice(price: number | null, currency: string): string {
  if (price === null) return "";
  try {
    return currencyFormatter(currency).format(price);
  } catch {
    return `${price.toFixed(2)} ${currency}`;
  }
}

const FONT = "font-family:Arial,Helvetica,sans-serif;";

function cell(item: BlockItem, widthPercent: number): string {
  const href = escapeHtml(item.clickUrl);
  const title = escapeHtml(item.title);
  const image = item.imageUrl
    ? `<a href="${href}" target="_blank"><img src="${escapeHtml(item.imageUrl)}" alt="${title}" width="160" style="display:block;width:100%;max-width:160px;height:auto;border:0;margin:0 auto 8px auto;"></a>`
    : "";
  const price = formatPrice(item.price, item.currency);
  return (
    `<td class="ep-item" width="${widthPercent}%" valign="top" align="center" style="padding:8px;${FONT}">` +
    image +
    `<a href="${href}" target="_blank" style="color:#1a1a1a;text-decoration:none;font-size:14px;font-weight:bold;line-height:18px;">${title}</a>` +
    (price
      ? `<div style="color:#1a1a1a;font-size:14px;line-height:20px;margin-top:4px;">${escapeHtml(price)}</div>`
      : "") +
    `<div style="color:#6b6b6b;font-size:12px;line-height:16px;margin-top:4px;">${escapeHtml(item.reason)}</div>` +
    "</td>"
  );
}

/** Renders items in rows of up to three columns. */
/** The invisible open pixel; alone, it is what a holdout variant's e-mail carries, so its opens count too. */
export function openPixelTag(url: string): string {
  return `<img src="${escapeHtml(url)}" alt="" width="1" height="1" style="display:block;border:0;width:1px;height:1px;">`;
}

export function renderRecommendationBlock(items: readonly BlockItem[], options: BlockOptions): string {
  const perRow = Math.min(3, Math.max(1, items.length));
  const width = Math.floor(100 / perRow);
  const rows: string[] = [];
  for (let i = 0; i < items.length; i += perRow) {
    rows.push(
      `<tr>${items
        .slice(i, i + perRow)
        .map((it) => cell(it, width))
        .join("")}</tr>`,
    );
  }
  const pixel = options.openPixelUrl ? openPixelTag(options.openPixelUrl) : "";
  return (
    `<table role="presentation" class="ep-recommendations" width="100%" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;max-width:600px;margin:0 auto;">` +
    `<tr><td colspan="${perRow}" style="padding:8px;${FONT}font-size:18px;font-weight:bold;color:#1a1a1a;">${escapeHtml(options.heading)}</td></tr>` +
    rows.join("") +
    "</table>" +
    pixel
  );
}
