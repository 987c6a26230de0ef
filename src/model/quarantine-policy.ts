/**
 * How much the quarantine keeps, so that its storage stays bounded however
 * much bad input arrives (issue 12): a cap per reason code, a retention
 * period, and for requests that carried no valid write key or token, a count
 * of every one but only a small sample stored.
 *
 * A sender with a valid write key gets every rejection kept (DESIGN §2.1),
 * within the cap. Anyone on the internet can send the pixel route junk
 * without a key; what such a request holds is worth little to an operator
 * beyond "it happened, this often, looking like this".
 */

export interface QuarantinePolicy {
  /** Rows kept per reason code; the oldest beyond it are evicted. */
  maxPerReason: number;
  /** Rows older than this are deleted. */
  retentionMs: number;
}

/** Unauthenticated rejections stored per reason code per clock hour; the rest are only counted. */
export const UNAUTHENTICATED_SAMPLE_PER_HOUR = 20;

/** An unauthenticated payload is kept up to this many characters. */
export const UNAUTHENTICATED_PAYLOAD_CHARS = 2 * 1024;

/**
 * A rejected message from a public browser key is kept up to this many
 * characters: every one is kept, but anyone can send them, so the cap per
 * reason bounds the quarantine in bytes too (8 KB × 10,000 rows ≈ 80 MB a
 * reason at the default cap, against 640 MB at the 64 KB a server key's
 * rejections keep).
 */
export const BROWSER_PAYLOAD_CHARS = 8 * 1024;

/** Refused identity claims keep what was claimed up to this many characters of JSON. */
export const CLAIMED_CHARS = 4 * 1024;

/**
 * Each insert prunes at most this many rows more than it inserted, per
 * statement: enough to wear down a backlog (after a cap or retention is
 * lowered) a little each time, never a long delete in a request.
 */
export const PRUNE_SLACK = 100;

const HOUR = 3_600_000;

/** Rows one prune statement may delete after `inserted` rows went in. */
export function pruneBound(inserted: number): number {
  return Math.max(0, Math.floor(inserted)) + PRUNE_SLACK;
}

/** Rows received before this time are past retention. */
export function retentionCutoff(now: number, policy: QuarantinePolicy): number {
  return now - policy.retentionMs;
}

/** The start of the clock hour `now` falls in: the unauthenticated sample's window. */
export function hourStart(now: number): number {
  return now - (((now % HOUR) + HOUR) % HOUR);
}

/** Counter names in `sink_stats` for what the quarantine counted rather than kept. */
export const QUARANTINE_COUNTERS = {
  /** Rows evicted because their reason code held more than the cap. */
  evicted: "quarantine_evicted",
  /** Rows deleted because they outlived the retention period. */
  expired: "quarantine_expired",
  /** Prefix of the per-reason counts of unauthenticated requests (`unauthenticated:invalid_write_key`). */
  unauthenticatedPrefix: "unauthenticated:",
} as const;

/**
 * The first `perHour` unauthenticated rejections of each reason in a clock
 * hour, as this isolate has seen them. It spares the warehouse even the check
 * once this isolate's share is spent; the warehouse's own count (see the
 * sink) keeps the sample small across isolates.
 */
export class HourlySample {
  private readonly seen = new Map<string, { hour: number; taken: number }>();

  constructor(private readonly perHour: number = UNAUTHENTICATED_SAMPLE_PER_HOUR) {}

  /** Whether one more of `reason` may be sampled now; counts it when so. */
  take(reason: string, now: number): boolean {
    const hour = hourStart(now);
    const entry = this.seen.get(reason);
    if (!entry || entry.hour !== hour) {
      this.seen.set(reason, { hour, taken: 1 });
      return this.perHour > 0;
    }
    if (entry.taken >= this.perHour) return false;
    entry.taken += 1;
    return true;
  }
}
