/**
 * Enrichment at the edge, before anything is stored: the client address is
 * anonymized (IPv4 last octet, IPv6 last 80 bits — the rule Google Analytics
 * applied), the user agent is reduced to device class, browser and OS with
 * known bots flagged, UTM fields are read from the page URL into Segment's
 * `context.campaign`, and e-mail traits are trimmed and lower-cased.
 */
import { isbot } from "isbot";
import UAParser from "ua-parser-js";

export interface ClientInfo {
  /** The connecting address as the platform saw it (`CF-Connecting-IP`). */
  ip: string | null;
  /** The request's `User-Agent` header. */
  userAgent: string | null;
}

function anonymizeIpv4(ip: string): string | null {
  const parts = ip.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return null;
  return `${parts.slice(0, 3).map(Number).join(".")}.0`;
}

function expandIpv6(ip: string): number[] | null {
  const [head = "", tail, ...rest] = ip.split("::");
  if (rest.length > 0) return null;
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const missing = 8 - left.length - right.length;
  if (tail === undefined ? missing !== 0 : missing < 1) return null;
  const all = [...left, ...Array<string>(Math.max(0, missing)).fill("0"), ...right];
  if (!all.every((g) => /^[0-9a-f]{1,4}$/i.test(g))) return null;
  return all.map((g) => Number.parseInt(g, 16));
}

/** `203.0.113.77` → `203.0.113.0`; `2001:db8:85a3:8d3:1319:8a2e:370:7348` → `2001:db8:85a3::`; null when not an address. */
export function anonymizeIp(raw: string): string | null {
  const ip = raw.trim();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped?.[1]) return anonymizeIpv4(mapped[1]);
  if (ip.includes(".")) return anonymizeIpv4(ip);
  const groups = expandIpv6(ip.replace(/%.*$/, ""));
  if (!groups) return null;
  // Keep the first 48 bits (three groups); zero the last 80.
  return `${groups
    .slice(0, 3)
    .map((g) => g.toString(16))
    .join(":")}::`;
}

export interface UserAgentSummary {
  device: { type: "desktop" | "mobile" | "tablet" | "tv" | "console" | "wearable" | "bot" | "other" };
  browser: { name: string | null; version: string | null };
  os: { name: string | null; version: string | null };
  bot: boolean;
}

/** ua-parser-js device types, in this service's words; a UA with no device type is a desktop browser. */
const DEVICE_TYPES: Record<string, UserAgentSummary["device"]["type"]> = {
  mobile: "mobile",
  tablet: "tablet",
  smarttv: "tv",
  console: "console",
  wearable: "wearable",
};

/**
 * Summaries of user agents seen lately. A site's visitors share a few hundred
 * strings, and a browser's batch repeats one for every event; parsing one
 * costs about as much as the rest of an event's validation (measured with
 * `npm run profile`). Bounded: cleared when full.
 */
const summaries = new Map<string, Readonly<UserAgentSummary>>();
const MAX_SUMMARIES = 1_000;

/** The parts of a user agent worth keeping; the string itself is not stored. */
export function summarizeUserAgent(ua: string): Readonly<UserAgentSummary> {
  const known = summaries.get(ua);
  if (known) return known;
  if (summaries.size >= MAX_SUMMARIES) summaries.clear();
  const summary = parseUserAgent(ua);
  summaries.set(ua, summary);
  return summary;
}

function parseUserAgent(ua: string): UserAgentSummary {
  const parsed = new UAParser(ua.slice(0, 512)).getResult();
  const bot = isbot(ua);
  const known = parsed.device.type ? DEVICE_TYPES[parsed.device.type] : undefined;
  const device = bot ? "bot" : (known ?? (parsed.os.name || parsed.browser.name ? "desktop" : "other"));
  return {
    device: { type: device },
    browser: { name: parsed.browser.name ?? null, version: parsed.browser.major ?? null },
    os: { name: parsed.os.name ?? null, version: parsed.os.version ?? null },
    bot,
  };
}

const UTM_FIELDS = {
  utm_campaign: "name",
  utm_source: "source",
  utm_medium: "medium",
  utm_term: "term",
  utm_content: "content",
} as const;

function text(v: unknown, max: number): string | null {
  if (typeof v !== "string") return null;
  const t = v.trim();
  return t ? t.slice(0, max) : null;
}

/** Segment's `context.campaign` from the page URL's `utm_*` parameters, the message's own fields winning. */
export function campaignOf(pageUrl: string | null, given: unknown): Record<string, string> | null {
  const campaign: Record<string, string> = {};
  if (pageUrl) {
    try {
      const params = new URL(pageUrl).searchParams;
      for (const [param, field] of Object.entries(UTM_FIELDS)) {
        const v = text(params.get(param), 200);
        if (v) campaign[field] = v.toLowerCase();
      }
    } catch {
      // Not an absolute URL: nothing to read.
    }
  }
  if (given && typeof given === "object" && !Array.isArray(given)) {
    for (const field of Object.values(UTM_FIELDS)) {
      const v = text((given as Record<string, unknown>)[field], 200);
      if (v) campaign[field] = v.toLowerCase();
    }
  }
  return Object.keys(campaign).length > 0 ? campaign : null;
}

/** `  Jane@Example.COM ` → `jane@example.com`; anything else unchanged. */
export function normalizeEmail(v: unknown): unknown {
  return typeof v === "string" && v.includes("@") ? v.trim().toLowerCase() : v;
}

/** Traits with their e-mail address normalized, so one person is one address. */
export function normalizeTraits(traits: Record<string, unknown>): Record<string, unknown> {
  return Object.hasOwn(traits, "email") ? { ...traits, email: normalizeEmail(traits.email) } : traits;
}

/**
 * The context as stored: address anonymized, user agent summarized (the raw
 * string and Client Hints dropped), campaign read, page fields trimmed.
 */
export function enrichContext(
  context: Record<string, unknown>,
  client: ClientInfo | undefined,
  pageUrl: string | null,
): Record<string, unknown> {
  const { ip, userAgent, userAgentData: _hints, campaign, traits, ...rest } = context;
  const out: Record<string, unknown> = { ...rest };
  // The request speaks for the person only when a browser sent it (a pixel, a beacon, analytics.js);
  // a server SDK's request carries its own HTTP client and its server's address, not the person's.
  const fromBrowser = client?.userAgent?.startsWith("Mozilla/") ? client : null;
  const address = text(ip, 64) ?? fromBrowser?.ip ?? null;
  const anonymized = address ? anonymizeIp(address) : null;
  if (anonymized) out.ip = anonymized;
  const ua = text(userAgent, 2048) ?? fromBrowser?.userAgent ?? null;
  if (ua) {
    const summary = summarizeUserAgent(ua);
    out.device = { ...(isRecord(rest.device) ? rest.device : {}), type: summary.device.type };
    out.browser = { ...summary.browser };
    out.os = { ...(isRecord(rest.os) ? rest.os : {}), ...summary.os };
    if (summary.bot) out.bot = true;
  }
  const c = campaignOf(pageUrl, campaign);
  if (c) out.campaign = c;
  if (isRecord(traits)) out.traits = normalizeTraits(traits);
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}
