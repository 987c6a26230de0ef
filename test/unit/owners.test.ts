import { describe, expect, it } from "vitest";
import { deadLetterProfileIds, lakeLineBelongsTo, payloadOwners } from "../../src/model/owners";

const owners = { profileIds: ["user_id:1001"], userIds: ["1001"], anonymousIds: ["anon-1"] };

describe("lake lines belong to whoever their own fields name", () => {
  it("keeps another person's line whose order id or coupon equals the person's id", () => {
    const line = (fields: Record<string, unknown>) =>
      JSON.stringify({ profileId: "user_id:other", userId: "other", anonymousId: null, properties: {}, ...fields });
    expect(lakeLineBelongsTo(line({ properties: { order_id: "1001", coupon: "1001" } }), owners)).toBe(false);
    expect(lakeLineBelongsTo(line({ traits: { assistant_email: "ev1@example.com" } }), owners)).toBe(false);
    expect(lakeLineBelongsTo(line({ profileId: "user_id:1001" }), owners)).toBe(true);
    expect(lakeLineBelongsTo(line({ userId: "1001" }), owners)).toBe(true);
    expect(lakeLineBelongsTo(line({ anonymousId: "anon-1" }), owners)).toBe(true);
    expect(lakeLineBelongsTo('{"profileId":"user_id:1001"', owners)).toBe(false);
  });
});

describe("quarantined payloads name their owners in their fields", () => {
  it("reads userId and anonymousId as trimmed text, as ingestion does, and the trimmed lower-cased traits.email", () => {
    expect(payloadOwners({ userId: 1001, anonymousId: " a ", traits: { email: " Ev1@Example.com " } })).toEqual({
      userId: "1001",
      anonymousId: "a",
      email: "ev1@example.com",
    });
    expect(payloadOwners({ userId: "", properties: { order_id: "1001" } })).toEqual({
      userId: null,
      anonymousId: null,
      email: null,
    });
    expect(payloadOwners("userId=1001")).toEqual({ userId: null, anonymousId: null, email: null });
  });
});

describe("dead letters name the profiles of their records and outbox run", () => {
  it("collects records' profile ids and the actor's, and none for a body that is not an object", () => {
    const body = JSON.stringify({
      actor: "user:42",
      records: [{ profileId: "anonymous_id:x" }, { profileId: "user_id:42" }, { properties: { order_id: "1001" } }],
    });
    expect(deadLetterProfileIds(body)?.sort()).toEqual(["anonymous_id:x", "user_id:42"]);
    expect(deadLetterProfileIds("{not json")).toBeNull();
    expect(deadLetterProfileIds("[1001]")).toBeNull();
  });
});
