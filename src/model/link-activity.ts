/**
 * How opens and clicks of e-mail links count. A link followed again and again
 * — a reader clicking twice, a replay, a crawler looping — is one event per
 * person per link within a window: the event's messageId is derived from the
 * link, the person and the window, and the actor applies a messageId once.
 * And a person who follows several different links of one e-mail within
 * moments of each other is a security scanner visiting every link of the
 * message, not a reader: those clicks are recorded as a bot's.
 */
import type { ProfileEvent } from "./messages";

export const EMAIL_OPENED = "Email Opened";
export const EMAIL_LINK_CLICKED = "Email Link Clicked";

/** Why an event was flagged as a bot's although its user agent looks like a person's. */
export const TOO_FAST = "too_fast";

/**
 * Two different links of one e-mail clicked this close together by the same
 * person: faster than anyone reads, moves a pointer and clicks again, while
 * link scanners (Microsoft Safe Links, Mimecast, Proofpoint) follow all
 * links of a message within a second or so.
 */
export const SCANNER_BURST_MS = 2_000;

const encoder = new TextEncoder();

/**
 * The messageId of an open or click: the same for every visit of one link by
 * one person within one window (`windowMs` buckets of wall-clock time), so
 * the actor's messageId dedup applies it once. A crawler's visit (known by
 * its user agent) has an id of its own, so a crawler that follows a link
 * first never takes the place of the reader who follows it later. The
 * token's text identifies the link: it is canonical, so one link has one
 * spelling.
 */
export async function linkEventId(
  link: { token: string; profile: string },
  at: number,
  windowMs: number,
  bot: boolean,
): Promise<string> {
  const bucket = Math.floor(at / windowMs);
  const material = `link-event v1\n${link.token}\n${link.profile}\n${windowMs}:${bucket}\n${bot ? "bot" : "person"}`;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(material)));
  let hex = "";
  for (const b of digest.subarray(0, 16)) hex += b.toString(16).padStart(2, "0");
  return `link-${hex}`;
}

/** One click on an e-mail link, as the scanner rule sees it. */
export interface LinkClick {
  messageId: string;
  /** The e-mail the link belongs to (`email_id`). */
  emailId: string;
  /** Which link of that e-mail: its product, else its URL. */
  link: string;
  at: number;
}

/** The click an event records, or null for anything else (and for links without an e-mail id, issued before it existed). */
export function linkClickOf(
  e: Pick<ProfileEvent, "messageId" | "name" | "timestamp" | "properties">,
): LinkClick | null {
  if (e.name !== EMAIL_LINK_CLICKED) return null;
  const emailId = e.properties.email_id;
  const link = e.properties.product_id ?? e.properties.url;
  if (typeof emailId !== "string" || (typeof link !== "string" && typeof link !== "number")) return null;
  return { messageId: e.messageId, emailId, link: String(link), at: e.timestamp };
}

/**
 * The incoming clicks that came too fast: each one within `SCANNER_BURST_MS`
 * of a click by the same person on a different link of the same e-mail,
 * earlier or in the same batch. The first click of a burst has nothing
 * before it and counts as the reader's (the rule cannot see the future).
 */
export function scannerClicks(earlier: readonly LinkClick[], incoming: readonly LinkClick[]): Set<string> {
  const seen = [...earlier];
  const flagged = new Set<string>();
  for (const click of [...incoming].sort((a, b) => a.at - b.at)) {
    const burst = seen.some(
      (s) => s.emailId === click.emailId && s.link !== click.link && Math.abs(click.at - s.at) <= SCANNER_BURST_MS,
    );
    if (burst) flagged.add(click.messageId);
    seen.push(click);
  }
  return flagged;
}
