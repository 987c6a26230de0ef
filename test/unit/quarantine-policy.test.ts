import { describe, expect, it } from "vitest";
import {
  HourlySample,
  hourStart,
  PRUNE_SLACK,
  pruneBound,
  retentionCutoff,
  UNAUTHENTICATED_SAMPLE_PER_HOUR,
} from "../../src/model/quarantine-policy";
import { DAY, HOUR, MINUTE } from "./fixtures";

const NOON = Date.parse("2026-03-01T12:00:00.000Z");

describe("the unauthenticated sample", () => {
  it("takes the first few of a reason in a clock hour and refuses the rest until the next hour", () => {
    const sample = new HourlySample(3);
    const taken = Array.from({ length: 10 }, (_, i) => sample.take("invalid_write_key", NOON + i * MINUTE));
    expect(taken).toEqual([true, true, true, false, false, false, false, false, false, false]);
    expect(sample.take("invalid_write_key", NOON + 59 * MINUTE)).toBe(false);
    expect(sample.take("invalid_write_key", NOON + HOUR)).toBe(true);
  });

  it("counts each reason on its own", () => {
    const sample = new HourlySample(1);
    expect(sample.take("invalid_write_key", NOON)).toBe(true);
    expect(sample.take("invalid_write_key", NOON)).toBe(false);
    expect(sample.take("invalid_pixel_data", NOON)).toBe(true);
  });

  it(`keeps ${UNAUTHENTICATED_SAMPLE_PER_HOUR} per reason per hour by default`, () => {
    const sample = new HourlySample();
    const taken = Array.from({ length: 500 }, () => sample.take("oversize", NOON)).filter(Boolean);
    expect(taken).toHaveLength(UNAUTHENTICATED_SAMPLE_PER_HOUR);
  });

  it("windows on the clock hour a time falls in", () => {
    expect(hourStart(NOON + 59 * MINUTE + 59_999)).toBe(NOON);
    expect(hourStart(NOON)).toBe(NOON);
  });
});

describe("pruning", () => {
  it("removes a little more than was inserted, so a backlog shrinks on every insert without a long delete", () => {
    expect(pruneBound(1)).toBe(1 + PRUNE_SLACK);
    expect(pruneBound(2_500)).toBe(2_500 + PRUNE_SLACK);
    expect(pruneBound(0)).toBe(PRUNE_SLACK);
  });

  it("expires what was received longer ago than the retention period", () => {
    expect(retentionCutoff(NOON, { maxPerReason: 10, retentionMs: 30 * DAY })).toBe(NOON - 30 * DAY);
  });
});
