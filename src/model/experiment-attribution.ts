/**
 * A person's part in each experiment, as their actor keeps it: the variant
 * they were assigned on first exposure, and what they did after — opened,
 * clicked, converted (with the revenue). Every outcome is set once, so a
 * retried request, a redelivered event or a second e-mail of the same
 * campaign never counts twice. The actor applies these rules; the warehouse
 * receives each changed membership whole, under a revision that only grows.
 */
import { conversionRevenue } from "./experiments";
import { EMAIL_LINK_CLICKED, EMAIL_OPENED } from "./link-activity";
import type { ProfileEvent } from "./messages";

export interface Membership {
  experimentId: string;
  variant: string;
  /** When the person was first exposed (the first merge call that rendered the experiment for them). */
  exposedAt: number;
  /** The event that counts as a conversion, and how long after exposure it counts. */
  conversionEvent: string;
  windowMs: number;
  openedAt: number | null;
  clickedAt: number | null;
  convertedAt: number | null;
  /** The event that converted, so a reader can find it in the events table. */
  conversionMessageId: string | null;
  revenue: number;
  /** Grows with every change, so the warehouse keeps the newest state whatever order records arrive in. */
  revision: number;
}

/** What the edge sends the actor for a merge call inside a running experiment. */
export interface ExposureRequest {
  /** The person's actor key (`user:42`), which the assignment hash reads. */
  actorKey: string;
  experimentId: string;
  salt: string;
  variants: readonly { key: string; weight: number }[];
  conversionEvent: string;
  windowMs: number;
  /**
   * Whether a person the actor holds nothing about may become a recipient.
   * True for the API key (the ESP's list is the truth); false for a merge key
   * in a URL, which could otherwise invent recipients and fire their links.
   */
  recordUnknown: boolean;
}

/** Experiments one person's actor remembers at most: the oldest exposures go first (their facts are in the warehouse). */
export const MAX_MEMBERSHIPS = 100;

/** The revision of a merged visitor's last record: above any it could ever write itself. */
export const MERGED_REVISION = 2 ** 40;

export function newMembership(request: ExposureRequest, variant: string, now: number): Membership {
  return {
    experimentId: request.experimentId,
    variant,
    exposedAt: now,
    conversionEvent: request.conversionEvent,
    windowMs: request.windowMs,
    openedAt: null,
    clickedAt: null,
    convertedAt: null,
    conversionMessageId: null,
    revenue: 0,
    revision: 1,
  };
}

/** Whether an event from a sealed e-mail link is about this membership: its experiment and variant. */
function fromItsLink(m: Membership, e: ProfileEvent): boolean {
  return e.properties.experiment === m.experimentId && e.properties.variant === m.variant;
}

/** Where a batch came from, as far as attribution may believe it. */
export interface AttributionTrust {
  /** Every event came through a sealed e-mail link (`/o/`, `/c/`): its experiment and variant are genuine. */
  sealedLinks: boolean;
  /** messageIds sent with a public browser key and no identity verification: anyone could have sent them. */
  untrusted?: ReadonlySet<string>;
}

/** Revenue one conversion may add at most: keeps the revenue statistics finite whatever an order claims. */
export const MAX_CONVERSION_REVENUE = 1e9;

/**
 * The memberships a batch of events changes, each as its new state:
 * - an open (or a click, which proves the e-mail was opened) of a link sealed
 *   for the membership's experiment and variant, when the batch came from
 *   sealed links (only the e-mail routes say so: anyone holding a write key
 *   could send an `Email Link Clicked` naming an experiment);
 * - the first conversion event timed within the attribution window after
 *   first exposure, with its revenue (negative counts as 0, at most
 *   `MAX_CONVERSION_REVENUE`) — from a server source or a verified browser
 *   call only, since anyone holding the public browser key could send an
 *   order for anyone.
 * Bots' events (crawlers, link scanners) change nothing.
 */
export function attributeEvents(
  memberships: ReadonlyMap<string, Membership>,
  events: readonly ProfileEvent[],
  trust: AttributionTrust,
): Membership[] {
  if (memberships.size === 0) return [];
  const changed = new Map<string, Membership>();
  const ordered = [...events].sort((a, b) => a.timestamp - b.timestamp);
  for (const e of ordered) {
    if (e.type !== "track" || e.context.bot === true) continue;
    const link = trust.sealedLinks && (e.name === EMAIL_OPENED || e.name === EMAIL_LINK_CLICKED);
    const believed = !trust.untrusted?.has(e.messageId);
    for (const current of memberships.values()) {
      const m = changed.get(current.experimentId) ?? current;
      let next: Membership | null = null;
      if (link && fromItsLink(m, e)) {
        const opened = m.openedAt ?? e.timestamp;
        const clicked = e.name === EMAIL_LINK_CLICKED ? (m.clickedAt ?? e.timestamp) : m.clickedAt;
        if (opened !== m.openedAt || clicked !== m.clickedAt) next = { ...m, openedAt: opened, clickedAt: clicked };
      } else if (
        believed &&
        e.name === m.conversionEvent &&
        m.convertedAt === null &&
        e.timestamp >= m.exposedAt &&
        e.timestamp <= m.exposedAt + m.windowMs
      ) {
        next = {
          ...m,
          convertedAt: e.timestamp,
          conversionMessageId: e.messageId,
          revenue: Math.min(Math.max(conversionRevenue(e.properties) ?? 0, 0), MAX_CONVERSION_REVENUE),
        };
      }
      if (next) changed.set(m.experimentId, { ...next, revision: current.revision + 1 });
    }
  }
  return [...changed.values()];
}

/**
 * A visitor's membership joining the person's when the visitor is merged in:
 * one person is one recipient, assigned by their earliest exposure. Outcomes
 * of the other membership carry over only when it saw the same variant.
 * Null when the person's own membership stays as it is.
 */
export function joinMembership(mine: Membership | undefined, theirs: Membership): Membership | null {
  if (!mine) return { ...theirs, revision: theirs.revision + 1 };
  const [first, second] = theirs.exposedAt < mine.exposedAt ? [theirs, mine] : [mine, theirs];
  const same = first.variant === second.variant;
  const earliest = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b));
  // The earlier conversion of the two, when both saw the same variant.
  const conversion =
    same && second.convertedAt !== null && (first.convertedAt === null || second.convertedAt < first.convertedAt)
      ? second
      : first;
  const joined: Membership = {
    ...first,
    openedAt: same ? earliest(first.openedAt, second.openedAt) : first.openedAt,
    clickedAt: same ? earliest(first.clickedAt, second.clickedAt) : first.clickedAt,
    convertedAt: conversion.convertedAt,
    conversionMessageId: conversion.conversionMessageId,
    revenue: conversion.revenue,
    revision: Math.max(mine.revision, theirs.revision) + 1,
  };
  const unchanged =
    joined.variant === mine.variant &&
    joined.exposedAt === mine.exposedAt &&
    joined.openedAt === mine.openedAt &&
    joined.clickedAt === mine.clickedAt &&
    joined.convertedAt === mine.convertedAt;
  return unchanged ? null : joined;
}

/** The memberships to forget so that at most `MAX_MEMBERSHIPS` remain: the oldest exposures. */
export function membershipsBeyondCap(memberships: ReadonlyMap<string, Membership>): string[] {
  if (memberships.size <= MAX_MEMBERSHIPS) return [];
  return [...memberships.values()]
    .sort((a, b) => a.exposedAt - b.exposedAt)
    .slice(0, memberships.size - MAX_MEMBERSHIPS)
    .map((m) => m.experimentId);
}
