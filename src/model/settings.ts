/**
 * Tunables read from Worker variables (DESIGN §2.6), with documented defaults.
 * A malformed value falls back to its default and says so once, rather than
 * taking the service down.
 */

import type { QuarantinePolicy } from "./quarantine-policy";

/** The runtime evicts an actor after 10 s without a call; a release time at or past that would never come first. */
export const MAX_IDLE_RELEASE_MS = 9_000;

/** The longest a sink buffer holds records before sending them (it keeps them in memory only). */
export const MAX_COALESCE_MS = 5_000;

export type InteractionKind = "viewed" | "list_viewed" | "added" | "checkout" | "purchased" | "email_click" | "page";

export const DEFAULT_WEIGHTS: Readonly<Record<InteractionKind, number>> = {
  viewed: 1,
  list_viewed: 0.5,
  added: 3,
  checkout: 4,
  purchased: 5,
  email_click: 2,
  page: 0.5,
};

export interface Settings {
  sessionTimeoutMs: number;
  halfLifeMs: number;
  weights: Readonly<Record<InteractionKind, number>>;
  catalogRefreshMs: number;
  /** How long an actor's change records may wait in its outbox before the alarm flushes them; 0 sends them within the ingest call. */
  sinkFlushMs: number;
  /** How long a sent change record may wait for the consumer's confirmation before it is sent again. */
  sinkRedeliverMs: number;
  /**
   * When set, actors hand their change records to a sink buffer that sends
   * many actors' runs as one Queue message at most this often (null: each
   * actor sends its own).
   */
  sinkCoalesceMs: number | null;
  /** Events one profile may take per second, sustained, before its ingestion is throttled. */
  profileEventsPerSecond: number;
  /** Events one profile may take in a burst above that rate. */
  profileEventBurst: number;
  /** Consent categories that cover personalization (empty: any whose name says personalization). */
  personalizationCategories: string[];
  /** How long a regulation subject may wait INITIALIZED or RUNNING, untouched, before its job is sent again. */
  regulationResumeAfterMs: number;
  /** A click or open of one e-mail link counts once per person within this window. */
  linkDedupMs: number;
  /** A person adds to a product's popularity at most once per kind of interaction within this window. */
  popularityWindowMs: number;
  /** How many quarantined messages are kept per reason code, and for how long. */
  quarantine: QuarantinePolicy;
  /** Audience webhooks: the first retry's delay (doubling after each failure) and the attempts before a dead letter. */
  audienceWebhooks: { retryMs: number; attempts: number };
  /** Self-hosted only: when an idle actor resets itself (null: the runtime decides), and above how many live actors it goes at once. */
  actorRelease: { idleMs: number | null; liveLimit: number };
}

export interface SettingsSource {
  SESSION_TIMEOUT_MINUTES?: string;
  AFFINITY_HALF_LIFE_DAYS?: string;
  EVENT_WEIGHTS?: string;
  CATALOG_REFRESH_SECONDS?: string;
  SINK_FLUSH_MS?: string;
  SINK_REDELIVER_MS?: string;
  SINK_COALESCE_MS?: string;
  PROFILE_EVENTS_PER_SECOND?: string;
  PROFILE_EVENT_BURST?: string;
  CONSENT_PERSONALIZATION_CATEGORIES?: string;
  REGULATION_RESUME_AFTER_SECONDS?: string;
  LINK_DEDUP_HOURS?: string;
  POPULARITY_WINDOW_HOURS?: string;
  QUARANTINE_MAX_PER_REASON?: string;
  QUARANTINE_RETENTION_DAYS?: string;
  ACTOR_IDLE_RELEASE_MS?: string;
  ACTOR_LIVE_LIMIT?: string;
  AUDIENCE_WEBHOOK_RETRY_SECONDS?: string;
  AUDIENCE_WEBHOOK_ATTEMPTS?: string;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * Link dedup rides on the actor's messageId window (48 hours, `CAPS.dedupWindowMs`
 * in profile.ts, which this module cannot import without a cycle): a longer
 * link window would be forgotten before it ends.
 */
export const MAX_LINK_DEDUP_HOURS = 48;

function linkDedupHours(raw: string | undefined, warn: (m: string) => void): number {
  const hours = positive(raw, 24, "LINK_DEDUP_HOURS", warn);
  if (hours <= MAX_LINK_DEDUP_HOURS) return hours;
  warn(
    `LINK_DEDUP_HOURS="${raw}" is longer than the ${MAX_LINK_DEDUP_HOURS}-hour dedup window; using ${MAX_LINK_DEDUP_HOURS}`,
  );
  return MAX_LINK_DEDUP_HOURS;
}

function positive(raw: string | undefined, fallback: number, name: string, warn: (m: string) => void): number {
  if (raw === undefined || raw.trim() === "") return fallback;
  const n = Number(raw);
  if (Number.isFinite(n) && n > 0) return n;
  warn(`${name}="${raw}" is not a positive number; using ${fallback}`);
  return fallback;
}

function idleReleaseMs(raw: string | undefined, warn: (m: string) => void): number | null {
  if (raw === undefined || raw.trim() === "") return null;
  const ms = positive(raw, MAX_IDLE_RELEASE_MS, "ACTOR_IDLE_RELEASE_MS", warn);
  if (ms <= MAX_IDLE_RELEASE_MS) return ms;
  warn(
    `ACTOR_IDLE_RELEASE_MS="${raw}" is not below the runtime's own 10-second eviction; using ${MAX_IDLE_RELEASE_MS}`,
  );
  return MAX_IDLE_RELEASE_MS;
}

/** Parses `viewed=1,added=3,...`; unknown kinds and bad numbers are reported and skipped. */
export function parseWeights(
  raw: string | undefined,
  warn: (m: string) => void = () => {},
): Record<InteractionKind, number> {
  const weights = { ...DEFAULT_WEIGHTS };
  if (!raw) return weights;
  for (const pair of raw.split(",")) {
    if (!pair.trim()) continue;
    const [key = "", value = ""] = pair.split("=").map((s) => s.trim());
    const n = Number(value);
    if (Object.hasOwn(DEFAULT_WEIGHTS, key) && value !== "" && Number.isFinite(n) && n >= 0) {
      weights[key as InteractionKind] = n;
    } else {
      warn(
        `EVENT_WEIGHTS entry "${pair.trim()}" ignored; expected kind=number with kind one of ${Object.keys(DEFAULT_WEIGHTS).join(", ")}`,
      );
    }
  }
  return weights;
}

export function readSettings(env: SettingsSource, warn: (m: string) => void = (m) => console.warn(m)): Settings {
  return {
    sessionTimeoutMs: positive(env.SESSION_TIMEOUT_MINUTES, 30, "SESSION_TIMEOUT_MINUTES", warn) * MINUTE,
    halfLifeMs: positive(env.AFFINITY_HALF_LIFE_DAYS, 14, "AFFINITY_HALF_LIFE_DAYS", warn) * DAY,
    weights: parseWeights(env.EVENT_WEIGHTS, warn),
    catalogRefreshMs: positive(env.CATALOG_REFRESH_SECONDS, 30, "CATALOG_REFRESH_SECONDS", warn) * 1000,
    sinkFlushMs: env.SINK_FLUSH_MS?.trim() === "0" ? 0 : positive(env.SINK_FLUSH_MS, 500, "SINK_FLUSH_MS", warn),
    sinkRedeliverMs: positive(env.SINK_REDELIVER_MS, 300_000, "SINK_REDELIVER_MS", warn),
    sinkCoalesceMs: env.SINK_COALESCE_MS?.trim()
      ? Math.min(MAX_COALESCE_MS, positive(env.SINK_COALESCE_MS, 250, "SINK_COALESCE_MS", warn))
      : null,
    profileEventsPerSecond: positive(env.PROFILE_EVENTS_PER_SECOND, 100, "PROFILE_EVENTS_PER_SECOND", warn),
    profileEventBurst: positive(env.PROFILE_EVENT_BURST, 3_000, "PROFILE_EVENT_BURST", warn),
    personalizationCategories: (env.CONSENT_PERSONALIZATION_CATEGORIES ?? "")
      .split(",")
      .map((c) => c.trim())
      .filter(Boolean),
    regulationResumeAfterMs:
      positive(env.REGULATION_RESUME_AFTER_SECONDS, 300, "REGULATION_RESUME_AFTER_SECONDS", warn) * 1000,
    linkDedupMs: linkDedupHours(env.LINK_DEDUP_HOURS, warn) * HOUR,
    popularityWindowMs: positive(env.POPULARITY_WINDOW_HOURS, 24, "POPULARITY_WINDOW_HOURS", warn) * HOUR,
    quarantine: {
      maxPerReason: Math.ceil(positive(env.QUARANTINE_MAX_PER_REASON, 10_000, "QUARANTINE_MAX_PER_REASON", warn)),
      retentionMs: positive(env.QUARANTINE_RETENTION_DAYS, 30, "QUARANTINE_RETENTION_DAYS", warn) * DAY,
    },
    audienceWebhooks: {
      retryMs: positive(env.AUDIENCE_WEBHOOK_RETRY_SECONDS, 30, "AUDIENCE_WEBHOOK_RETRY_SECONDS", warn) * 1000,
      attempts: Math.ceil(positive(env.AUDIENCE_WEBHOOK_ATTEMPTS, 8, "AUDIENCE_WEBHOOK_ATTEMPTS", warn)),
    },
    actorRelease: {
      idleMs: idleReleaseMs(env.ACTOR_IDLE_RELEASE_MS, warn),
      // 0 is allowed: every actor goes as soon as the edge is done with it.
      liveLimit:
        env.ACTOR_LIVE_LIMIT?.trim() === "0"
          ? 0
          : Math.ceil(positive(env.ACTOR_LIVE_LIMIT, 1_000, "ACTOR_LIVE_LIMIT", warn)),
    },
  };
}

const cache = new WeakMap<object, Settings>();

/** `readSettings`, parsed once per environment object. */
export function settingsOf(env: SettingsSource): Settings {
  let s = cache.get(env);
  if (!s) {
    s = readSettings(env);
    cache.set(env, s);
  }
  return s;
}
