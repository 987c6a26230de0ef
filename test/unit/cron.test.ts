/** `npm start` fires wrangler.toml's Cron Triggers in the minutes they name (scripts/cron.mjs), in UTC. */
import { describe, expect, it } from "vitest";
import { cronMatches } from "../../scripts/cron.mjs";

const at = (iso: string) => new Date(iso);

describe("cron schedules", () => {
  it("fires every minute for * * * * *, and the daily run only at 03:00 UTC", () => {
    expect(cronMatches("* * * * *", at("2026-12-07T13:37:00Z"))).toBe(true);
    expect(cronMatches("0 3 * * *", at("2026-12-07T03:00:00Z"))).toBe(true);
    expect(cronMatches("0 3 * * *", at("2026-12-07T03:01:00Z"))).toBe(false);
    expect(cronMatches("0 3 * * *", at("2026-12-07T04:00:00Z"))).toBe(false);
  });

  it("understands steps, ranges, lists and Sunday as 0 or 7", () => {
    expect(cronMatches("*/15 * * * *", at("2026-12-07T10:45:00Z"))).toBe(true);
    expect(cronMatches("*/15 * * * *", at("2026-12-07T10:50:00Z"))).toBe(false);
    expect(cronMatches("0 9-17/4 * * *", at("2026-12-07T13:00:00Z"))).toBe(true);
    expect(cronMatches("0 9-17/4 * * *", at("2026-12-07T15:00:00Z"))).toBe(false);
    expect(cronMatches("30 6 * * 1,3", at("2026-12-07T06:30:00Z"))).toBe(true); // a Monday
    expect(cronMatches("0 0 * * 7", at("2026-12-06T00:00:00Z"))).toBe(true); // a Sunday
    expect(cronMatches("0 0 * * 0", at("2026-12-06T00:00:00Z"))).toBe(true);
  });

  it("matches either day field when both are restricted, like cron", () => {
    expect(cronMatches("0 0 1 * 1", at("2026-12-07T00:00:00Z"))).toBe(true); // Monday, not the 1st
    expect(cronMatches("0 0 1 * 1", at("2026-12-01T00:00:00Z"))).toBe(true); // the 1st, a Tuesday
    expect(cronMatches("0 0 1 * 1", at("2026-12-02T00:00:00Z"))).toBe(false);
    // A day field starting with `*` (a step too) makes both day fields count, not either.
    expect(cronMatches("0 0 */2 * 1", at("2026-12-08T00:00:00Z"))).toBe(false); // Tuesday the 8th
    expect(cronMatches("0 0 */2 * 1", at("2026-12-07T00:00:00Z"))).toBe(true); // Monday the 7th
  });

  it("refuses what it does not understand rather than firing it every minute", () => {
    expect(() => cronMatches("@daily", at("2026-12-07T00:00:00Z"))).toThrow(/five fields/);
    expect(() => cronMatches("0 3 * * MON", at("2026-12-07T00:00:00Z"))).toThrow(/not understood/);
  });
});
