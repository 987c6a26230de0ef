import { describe, expect, it } from "vitest";
import { lakeKeyFor, lakeLine } from "../../src/sink/warehouse-writer";
import { T0 } from "./fixtures";

type LakeRow = Parameters<typeof lakeLine>[0];

function lakeRow(fields: Partial<LakeRow> = {}): LakeRow {
  return {
    message_id: "m-1",
    profile_id: "user_id:ada",
    user_id: "ada",
    anonymous_id: null,
    type: "track",
    name: "Order Completed",
    timestamp: T0,
    received_at: T0 + 1_500,
    session_number: 3,
    properties: '{"total":42.5}',
    traits: "{}",
    context: '{"ip":"203.0.113.1"}',
    ...fields,
  };
}

describe("raw lake lines", () => {
  it("is one line of valid JSON with ISO timestamps", () => {
    const line = lakeLine(lakeRow());
    expect(JSON.parse(line)).toEqual({
      messageId: "m-1",
      profileId: "user_id:ada",
      userId: "ada",
      anonymousId: null,
      type: "track",
      event: "Order Completed",
      timestamp: "2026-03-01T09:00:00.000Z",
      receivedAt: "2026-03-01T09:00:01.500Z",
      sessionNumber: 3,
      properties: { total: 42.5 },
      traits: {},
      context: { ip: "203.0.113.1" },
    });
  });

  it("splices the stored JSON columns in as they are, not re-serialized", () => {
    const properties = '{"z":1, "a":[1,2]}';
    const line = lakeLine(lakeRow({ properties }));
    expect(line).toContain(`"properties":${properties},`);
  });

  it("writes a late event's missing session number as null", () => {
    expect(JSON.parse(lakeLine(lakeRow({ session_number: null }))).sessionNumber).toBeNull();
  });

  it("escapes quotes and newlines in text columns so the line stays one line", () => {
    const name = 'Said "hi"\nthen left';
    const line = lakeLine(lakeRow({ name, user_id: null, anonymous_id: "a\\b" }));
    expect(line).not.toContain("\n");
    expect(JSON.parse(line)).toMatchObject({ event: name, userId: null, anonymousId: "a\\b" });
  });
});

describe("raw lake keys", () => {
  it("partitions Hive-style by the UTC day and hour of the write", () => {
    expect(lakeKeyFor(T0, "batch-1")).toBe("raw/events/dt=2026-03-01/hour=09/batch-1.ndjson");
  });

  it("zero-pads the hour and keeps the UTC day at midnight boundaries", () => {
    expect(lakeKeyFor(Date.UTC(2026, 11, 31, 23, 59, 59, 999), "b")).toBe("raw/events/dt=2026-12-31/hour=23/b.ndjson");
    expect(lakeKeyFor(Date.UTC(2027, 0, 1, 0, 0, 0), "b")).toBe("raw/events/dt=2027-01-01/hour=00/b.ndjson");
  });
});
