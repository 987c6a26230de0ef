import { describe, expect, it } from "vitest";
import { DAY_MS, HOUR_MS, newestTransitions, periodOf, sizeSeries } from "../../src/model/audience-history";

const NOW = Date.UTC(2026, 4, 10, 15, 30);

describe("an audience's history", () => {
  it("covers whole UTC hours or days up to now, with a point at now", () => {
    const hourly = periodOf(1, "hour", NOW);
    expect(hourly.since).toBe(Date.UTC(2026, 4, 9, 16));
    expect(hourly.boundaries).toBe(24);
    const daily = periodOf(7, "day", NOW);
    expect(daily.since).toBe(Date.UTC(2026, 4, 4));
    expect(sizeSeries(daily, 5, [], [])).toHaveLength(8);
  });

  it("walks back from the current size: an entry after a boundary was not yet in, an exit after it still was", () => {
    const period = periodOf(3, "day", NOW);
    // One entry in the first day's bucket (after boundary 0), one exit in the last bucket (after boundary 2).
    const sizes = sizeSeries(period, 4, [{ bucket: 0, n: 1 }], [{ bucket: 2, n: 1 }]);
    expect(sizes.map((p) => p.size)).toEqual([4, 5, 5, 4]);
    expect(sizes.map((p) => p.at)).toEqual([period.since, period.since + DAY_MS, period.since + 2 * DAY_MS, NOW]);
  });

  it("orders transitions newest first, an exit before an entry of the same instant, and keeps the newest", () => {
    const at = NOW - HOUR_MS;
    const merged = newestTransitions(
      [
        [{ profileId: "a", kind: "entered", at }],
        [{ profileId: "b", kind: "entered", at: at - 1 }],
        [
          { profileId: "a", kind: "exited", at },
          { profileId: "c", kind: "exited", at: at + 1 },
        ],
      ],
      3,
    );
    expect(merged.map((t) => `${t.kind} ${t.profileId}`)).toEqual(["exited c", "exited a", "entered a"]);
  });
});
