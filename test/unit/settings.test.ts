import { describe, expect, it } from "vitest";
import { DEFAULT_WEIGHTS, parseWeights, readSettings, settingsOf } from "../../src/model/settings";
import { DAY, MINUTE } from "./fixtures";

function readWithWarnings(env: Parameters<typeof readSettings>[0]) {
  const warnings: string[] = [];
  const settings = readSettings(env, (m) => warnings.push(m));
  return { settings, warnings };
}

describe("settings", () => {
  it("defaults to 30-minute sessions, a 14-day half-life, a 30-second catalog refresh a half-second outbox flush, a 5-minute redelivery, a flood limit of 100 events a second with bursts of 3,000 and a quarantine of 10,000 messages per reason for 30 days, regulations resumed after 5 quiet minutes, one counted click per person and link a day, and audience webhooks retried from 30 seconds, 8 attempts", () => {
    const { settings, warnings } = readWithWarnings({});
    expect(settings).toEqual({
      sessionTimeoutMs: 30 * MINUTE,
      halfLifeMs: 14 * DAY,
      weights: DEFAULT_WEIGHTS,
      catalogRefreshMs: 30_000,
      sinkFlushMs: 500,
      sinkRedeliverMs: 300_000,
      sinkCoalesceMs: null,
      profileEventsPerSecond: 100,
      profileEventBurst: 3_000,
      personalizationCategories: [],
      regulationResumeAfterMs: 300_000,
      linkDedupMs: DAY,
      popularityWindowMs: DAY,
      quarantine: { maxPerReason: 10_000, retentionMs: 30 * DAY },
      audienceWebhooks: { retryMs: 30_000, attempts: 8 },
      actorRelease: { idleMs: null, liveLimit: 1_000 },
    });
    expect(warnings).toEqual([]);
  });

  it("leaves actors' lifetime to the runtime unless a self-hosted machine asks for release, which comes before the runtime's own 10-second eviction", () => {
    const set = readWithWarnings({ ACTOR_IDLE_RELEASE_MS: "2000", ACTOR_LIVE_LIMIT: "500" });
    expect(set.settings.actorRelease).toEqual({ idleMs: 2_000, liveLimit: 500 });
    expect(set.warnings).toEqual([]);
    const late = readWithWarnings({ ACTOR_IDLE_RELEASE_MS: "30000" });
    expect(late.settings.actorRelease.idleMs).toBe(9_000);
    expect(late.warnings).toEqual([
      'ACTOR_IDLE_RELEASE_MS="30000" is not below the runtime\'s own 10-second eviction; using 9000',
    ]);
  });

  it("sends change records within the ingest call when SINK_FLUSH_MS is 0, and refuses a negative interval", () => {
    expect(readWithWarnings({ SINK_FLUSH_MS: "0" }).settings.sinkFlushMs).toBe(0);
    const negative = readWithWarnings({ SINK_FLUSH_MS: "-5" });
    expect(negative.settings.sinkFlushMs).toBe(500);
    expect(negative.warnings).toEqual(['SINK_FLUSH_MS="-5" is not a positive number; using 500']);
  });

  it("bundles change records through the sink buffers only when SINK_COALESCE_MS is set, for at most 5 seconds", () => {
    expect(readWithWarnings({}).settings.sinkCoalesceMs).toBeNull();
    expect(readWithWarnings({ SINK_COALESCE_MS: "250" }).settings.sinkCoalesceMs).toBe(250);
    expect(readWithWarnings({ SINK_COALESCE_MS: "60000" }).settings.sinkCoalesceMs).toBe(5_000);
    const bad = readWithWarnings({ SINK_COALESCE_MS: "soon" });
    expect(bad.settings.sinkCoalesceMs).toBe(250);
    expect(bad.warnings).toEqual(['SINK_COALESCE_MS="soon" is not a positive number; using 250']);
  });

  it("reads the link dedup and popularity windows in hours, the link window at most the 48-hour dedup window", () => {
    const { settings, warnings } = readWithWarnings({ LINK_DEDUP_HOURS: "6", POPULARITY_WINDOW_HOURS: "72" });
    expect(settings.linkDedupMs).toBe(6 * 60 * MINUTE);
    expect(settings.popularityWindowMs).toBe(3 * DAY);
    expect(warnings).toEqual([]);
    const long = readWithWarnings({ LINK_DEDUP_HOURS: "100" });
    expect(long.settings.linkDedupMs).toBe(2 * DAY);
    expect(long.warnings).toEqual(['LINK_DEDUP_HOURS="100" is longer than the 48-hour dedup window; using 48']);
  });

  it("weighs a purchase most and a list view or page least by default", () => {
    expect(DEFAULT_WEIGHTS).toEqual({
      viewed: 1,
      list_viewed: 0.5,
      added: 3,
      checkout: 4,
      purchased: 5,
      email_click: 2,
      page: 0.5,
    });
  });

  it("reads overrides in the units the variables are named after", () => {
    const { settings, warnings } = readWithWarnings({
      SESSION_TIMEOUT_MINUTES: "45",
      AFFINITY_HALF_LIFE_DAYS: "7.5",
      CATALOG_REFRESH_SECONDS: "120",
      EVENT_WEIGHTS: "viewed=2, purchased=10",
      QUARANTINE_MAX_PER_REASON: "500",
      QUARANTINE_RETENTION_DAYS: "7",
    });
    expect(settings.quarantine).toEqual({ maxPerReason: 500, retentionMs: 7 * DAY });
    expect(settings.sessionTimeoutMs).toBe(45 * MINUTE);
    expect(settings.halfLifeMs).toBe(7.5 * DAY);
    expect(settings.catalogRefreshMs).toBe(120_000);
    expect(settings.weights).toEqual({ ...DEFAULT_WEIGHTS, viewed: 2, purchased: 10 });
    expect(warnings).toEqual([]);
  });

  it.each(["0", "-5", "abc", "Infinity", "1e999"])(
    "falls back to the default for SESSION_TIMEOUT_MINUTES=%j and says so",
    (raw) => {
      const { settings, warnings } = readWithWarnings({ SESSION_TIMEOUT_MINUTES: raw });
      expect(settings.sessionTimeoutMs).toBe(30 * MINUTE);
      expect(warnings).toEqual([`SESSION_TIMEOUT_MINUTES="${raw}" is not a positive number; using 30`]);
    },
  );

  it("names every malformed variable, and keeps the good ones", () => {
    const { settings, warnings } = readWithWarnings({
      SESSION_TIMEOUT_MINUTES: "10",
      AFFINITY_HALF_LIFE_DAYS: "two weeks",
      CATALOG_REFRESH_SECONDS: "-1",
    });
    expect(settings.sessionTimeoutMs).toBe(10 * MINUTE);
    expect(settings.halfLifeMs).toBe(14 * DAY);
    expect(settings.catalogRefreshMs).toBe(30_000);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain('AFFINITY_HALF_LIFE_DAYS="two weeks"');
    expect(warnings[1]).toContain('CATALOG_REFRESH_SECONDS="-1"');
  });

  it("treats a blank variable as unset, without a warning", () => {
    const { settings, warnings } = readWithWarnings({ SESSION_TIMEOUT_MINUTES: "  ", EVENT_WEIGHTS: "" });
    expect(settings.sessionTimeoutMs).toBe(30 * MINUTE);
    expect(settings.weights).toEqual(DEFAULT_WEIGHTS);
    expect(warnings).toEqual([]);
  });

  it("parses settings once per environment object", () => {
    const env = { SESSION_TIMEOUT_MINUTES: "20" };
    const first = settingsOf(env);
    expect(first.sessionTimeoutMs).toBe(20 * MINUTE);
    expect(settingsOf(env)).toBe(first);
    expect(settingsOf({ SESSION_TIMEOUT_MINUTES: "20" })).not.toBe(first);
  });
});

describe("EVENT_WEIGHTS", () => {
  it("overrides only the kinds it names", () => {
    expect(parseWeights("added=4,page=0")).toEqual({ ...DEFAULT_WEIGHTS, added: 4, page: 0 });
  });

  it("skips and reports unknown kinds and bad numbers, keeping the rest", () => {
    const warnings: string[] = [];
    const weights = parseWeights("viewed=2,wishlisted=3,added=-1,checkout=,purchased=lots, ,email_click=7", (m) =>
      warnings.push(m),
    );
    expect(weights).toEqual({ ...DEFAULT_WEIGHTS, viewed: 2, email_click: 7 });
    expect(warnings.map((w) => w.slice(0, w.indexOf(" ignored")))).toEqual([
      'EVENT_WEIGHTS entry "wishlisted=3"',
      'EVENT_WEIGHTS entry "added=-1"',
      'EVENT_WEIGHTS entry "checkout="',
      'EVENT_WEIGHTS entry "purchased=lots"',
    ]);
    expect(warnings[0]).toContain("kind one of viewed, list_viewed, added, checkout, purchased, email_click, page");
  });

  it("reports names that are object built-ins rather than taking them as kinds", () => {
    const warnings: string[] = [];
    const weights = parseWeights("toString=2,__proto__=3,constructor=1", (m) => warnings.push(m));
    expect(weights).toEqual(DEFAULT_WEIGHTS);
    expect(Object.keys(weights)).toEqual(Object.keys(DEFAULT_WEIGHTS));
    expect(warnings).toHaveLength(3);
  });

  it("does not change the shared defaults", () => {
    parseWeights("viewed=9");
    expect(DEFAULT_WEIGHTS.viewed).toBe(1);
  });
});
