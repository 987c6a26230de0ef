import { describe, expect, it } from "vitest";
import { LIMITS } from "../../src/model/messages";
import {
  actorKeyOf,
  correctedTimestamp,
  findUnsafeKey,
  jsonByteLength,
  type ValidationContext,
  validateMessage,
} from "../../src/model/validate";
import { HOUR, MINUTE } from "./fixtures";

const RECEIVED_AT = Date.parse("2026-03-01T12:00:10.000Z");
const ctx: ValidationContext = { receivedAt: RECEIVED_AT, newMessageId: () => "generated-id" };

function accept(raw: unknown, context: ValidationContext = ctx) {
  const v = validateMessage(raw, context);
  if (!v.ok) throw new Error(`expected the message to be accepted, got: ${v.reason}`);
  return v.event;
}

function reject(raw: unknown, context: ValidationContext = ctx): string {
  const v = validateMessage(raw, context);
  if (v.ok) throw new Error(`expected the message to be rejected: ${JSON.stringify(raw)}`);
  return v.reason;
}

describe("Segment clock-skew rule", () => {
  it("shifts the client's time by how far its clock is off: receivedAt − (sentAt − originalTimestamp)", () => {
    // The device clock runs two hours slow; the event happened 5 s before it was sent.
    const e = accept({
      type: "track",
      event: "Product Viewed",
      userId: "u",
      timestamp: "2026-03-01T10:00:00.000Z",
      sentAt: "2026-03-01T10:00:05.000Z",
    });
    expect(new Date(e.timestamp).toISOString()).toBe("2026-03-01T12:00:05.000Z");
    expect(e.receivedAt).toBe(RECEIVED_AT);
  });

  it("reads originalTimestamp when timestamp is absent", () => {
    const e = accept({
      type: "track",
      event: "Product Viewed",
      userId: "u",
      originalTimestamp: "2026-03-01T11:59:00.000Z",
      sentAt: "2026-03-01T12:00:00.000Z",
    });
    expect(e.timestamp).toBe(RECEIVED_AT - 60_000);
  });

  it("applies the batch's sentAt to a message without its own, and prefers the message's", () => {
    const raw = { type: "track", event: "E", userId: "u", timestamp: "2026-03-01T09:00:00.000Z" };
    const batch = { ...ctx, batchSentAt: "2026-03-01T09:00:30.000Z" };
    expect(accept(raw, batch).timestamp).toBe(RECEIVED_AT - 30_000);
    expect(accept({ ...raw, sentAt: "2026-03-01T09:00:10.000Z" }, batch).timestamp).toBe(RECEIVED_AT - 10_000);
  });

  it("keeps the client's own time when it did not say when it sent", () => {
    const e = accept({ type: "track", event: "E", userId: "u", timestamp: "2026-02-01T00:00:00.000Z" });
    expect(e.timestamp).toBe(Date.parse("2026-02-01T00:00:00.000Z"));
  });

  it("uses the time of receipt for a message without any time", () => {
    expect(accept({ type: "track", event: "E", userId: "u" }).timestamp).toBe(RECEIVED_AT);
  });

  it("clamps a time more than five minutes in the future to the time of receipt", () => {
    expect(correctedTimestamp(RECEIVED_AT + 5 * MINUTE, undefined, RECEIVED_AT)).toBe(RECEIVED_AT + 5 * MINUTE);
    expect(correctedTimestamp(RECEIVED_AT + 5 * MINUTE + 1, undefined, RECEIVED_AT)).toBe(RECEIVED_AT);
    // A skew-corrected time can also land in the future when sentAt is before the event.
    expect(correctedTimestamp(RECEIVED_AT, RECEIVED_AT - HOUR, RECEIVED_AT)).toBe(RECEIVED_AT);
  });

  it("accepts epoch milliseconds as well as ISO strings", () => {
    const at = Date.parse("2026-03-01T11:00:00.000Z");
    expect(accept({ type: "track", event: "E", userId: "u", timestamp: at }).timestamp).toBe(at);
  });

  it("rejects a timestamp that is not a date, naming the field", () => {
    expect(reject({ type: "track", event: "E", userId: "u", timestamp: "yesterday-ish" })).toBe(
      "timestamp: must be an ISO-8601 date-time",
    );
  });
});

describe("identity", () => {
  it("rejects a message with neither userId nor anonymousId", () => {
    expect(reject({ type: "track", event: "E" })).toBe("message needs a userId or an anonymousId");
    expect(reject({ type: "track", event: "E", userId: null, anonymousId: null })).toBe(
      "message needs a userId or an anonymousId",
    );
  });

  it("accepts an anonymous visitor and keys them by anonymous id", () => {
    const e = accept({ type: "page", anonymousId: "anon-7" });
    expect([e.userId, e.anonymousId]).toEqual([null, "anon-7"]);
    expect(actorKeyOf(e)).toBe("anon:anon-7");
  });

  it("keys a known user by user id even when an anonymous id comes along", () => {
    expect(actorKeyOf(accept({ type: "page", userId: "42", anonymousId: "anon-7" }))).toBe("user:42");
  });

  it("treats numeric ids as strings and trims ids", () => {
    const e = accept({ type: "identify", userId: 42, anonymousId: "  a-1  " });
    expect([e.userId, e.anonymousId]).toEqual(["42", "a-1"]);
  });

  it("refuses numeric ids JSON cannot carry exactly, so two people never share one profile", () => {
    // Both parse to 12345678901234567000: kept, they would be one person.
    const a = validateMessage(JSON.parse('{"type":"identify","userId":12345678901234567891}'), ctx);
    const b = validateMessage(JSON.parse('{"type":"identify","userId":12345678901234567890}'), ctx);
    for (const v of [a, b]) {
      expect(v).toMatchObject({
        ok: false,
        code: "unsafe_number_id",
        reason: expect.stringMatching(/^userId .*send ids as strings$/),
      });
    }
    expect(validateMessage({ type: "page", anonymousId: 1.5 }, ctx)).toMatchObject({
      ok: false,
      code: "unsafe_number_id",
      reason: "anonymousId is the number 1.5, not a whole number; send ids as strings",
    });
    expect(validateMessage({ type: "alias", userId: "u", previousId: 2 ** 60 }, ctx)).toMatchObject({
      code: "unsafe_number_id",
    });
    expect(validateMessage({ type: "group", userId: "u", groupId: -(2 ** 54) }, ctx)).toMatchObject({
      code: "unsafe_number_id",
    });
    expect(validateMessage({ type: "identify", userId: Number.POSITIVE_INFINITY }, ctx)).toMatchObject({
      code: "unsafe_number_id",
    });
  });

  it("keeps the largest exact numeric id, and a long numeric id sent as a string digit for digit", () => {
    expect(accept({ type: "identify", userId: Number.MAX_SAFE_INTEGER }).userId).toBe("9007199254740991");
    expect(accept({ type: "identify", userId: "12345678901234567891" }).userId).toBe("12345678901234567891");
    // A field the type does not have is ignored, whatever it holds.
    expect(accept({ type: "track", event: "E", userId: "u", groupId: 2 ** 60 }).userId).toBe("u");
  });

  it("reads an empty userId as not known yet, as browser SDKs send it for anonymous visitors", () => {
    const e = accept({ type: "page", userId: "", anonymousId: "anon-9" });
    expect([e.userId, e.anonymousId]).toEqual([null, "anon-9"]);
    expect(actorKeyOf(e)).toBe("anon:anon-9");
    expect(reject({ type: "page", userId: "", anonymousId: "" })).toBe("message needs a userId or an anonymousId");
  });

  it("says what a group or an alias is missing", () => {
    expect(reject({ type: "group", userId: "u" })).toBe(
      "groupId: group needs a groupId (the account or company id, a string)",
    );
    expect(reject({ type: "alias", userId: "u" })).toBe(
      "previousId: alias needs a previousId (the id being merged, usually the anonymousId)",
    );
  });

  it("rejects blank and over-long ids with the limit in the reason", () => {
    expect(reject({ type: "identify", userId: "   " })).toBe("userId: must not be empty");
    expect(reject({ type: "identify", userId: "x".repeat(LIMITS.idChars + 1) })).toBe(
      `userId: must be at most ${LIMITS.idChars} characters`,
    );
    expect(accept({ type: "identify", userId: "x".repeat(LIMITS.idChars) }).userId).toHaveLength(LIMITS.idChars);
  });
});

describe("message types", () => {
  it("a track needs an event name", () => {
    expect(reject({ type: "track", userId: "u" })).toMatch(/^event: track needs an event name/);
    expect(reject({ type: "track", userId: "u", event: "   " })).toBe("event: track needs an event name");
  });

  it("rejects an unknown type and lists the known ones", () => {
    expect(reject({ type: "purchase", userId: "u" })).toBe(
      'unknown message type "purchase"; expected one of track, identify, page, screen, group, alias',
    );
    expect(reject({ userId: "u" })).toMatch(/^unknown message type null;/);
  });

  it("takes the type from the route and refuses a body that disagrees", () => {
    const onTrack = { ...ctx, impliedType: "track" as const };
    expect(accept({ event: "E", userId: "u" }, onTrack).type).toBe("track");
    expect(reject({ type: "identify", userId: "u" }, onTrack)).toBe(
      'type "identify" does not match the route /v1/track',
    );
  });

  it("normalizes each type's own fields", () => {
    expect(accept({ type: "track", event: " Order Completed ", userId: "u" }).name).toBe("Order Completed");
    expect(accept({ type: "screen", name: "Home", userId: "u" }).name).toBe("Home");
    expect(accept({ type: "group", groupId: 7, userId: "u" }).groupId).toBe("7");
    expect(accept({ type: "alias", previousId: "anon-1", userId: "u" }).previousId).toBe("anon-1");
    const identify = accept({ type: "identify", userId: "u", traits: { plan: "pro" } });
    expect([identify.name, identify.traits]).toEqual([null, { plan: "pro" }]);
  });

  it("copies a page's category into its properties unless the properties already have one", () => {
    expect(accept({ type: "page", userId: "u", category: "Shoes" }).properties).toEqual({ category: "Shoes" });
    expect(
      accept({ type: "page", userId: "u", category: "Shoes", properties: { category: "Boots" } }).properties,
    ).toEqual({ category: "Boots" });
  });

  it("generates a messageId when the client sent none and keeps the client's otherwise", () => {
    expect(accept({ type: "page", userId: "u" }).messageId).toBe("generated-id");
    expect(accept({ type: "page", userId: "u", messageId: "client-1" }).messageId).toBe("client-1");
  });

  it("merges the batch context under the message's own context", () => {
    const e = accept(
      { type: "page", userId: "u", context: { locale: "en-GB" } },
      { ...ctx, batchContext: { locale: "de-DE", library: { name: "analytics-node" } } },
    );
    expect(e.context).toEqual({ locale: "en-GB", library: { name: "analytics-node" } });
  });
});

describe("unsafe and oversized messages", () => {
  it.each(["__proto__", "constructor", "prototype"])("rejects a %s key anywhere in the message", (key) => {
    const raw = JSON.parse(`{"type":"identify","userId":"u","traits":{"profile":{"${key}":{"admin":true}}}}`);
    expect(reject(raw)).toBe(`key "traits.profile.${key}" is not allowed (reserved object property name)`);
  });

  it("finds an unsafe key inside arrays too", () => {
    const raw = JSON.parse('{"properties":{"products":[{"id":1},{"__proto__":{}}]}}');
    expect(findUnsafeKey(raw)).toBe(
      'key "properties.products[1].__proto__" is not allowed (reserved object property name)',
    );
  });

  it("rejects nesting deeper than the limit", () => {
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < LIMITS.depth + 1; i++) deep = { d: deep };
    const reason = reject({ type: "identify", userId: "u", traits: deep });
    expect(reason).toContain(`nests deeper than ${LIMITS.depth} levels`);

    let shallow: Record<string, unknown> = {};
    for (let i = 0; i < LIMITS.depth - 2; i++) shallow = { d: shallow };
    expect(findUnsafeKey({ traits: shallow })).toBeNull();
  });

  it("applies the 32 KB limit to the message as stored, batch context included", () => {
    const context = { pad: "x".repeat(20_000) };
    const message = { type: "track", userId: "u", event: "E", properties: { note: "y".repeat(20_000) } };
    expect(reject(message, { ...ctx, batchContext: context })).toMatch(/^message with the batch context is \d+ bytes/);
    expect(validateMessage(message, ctx).ok).toBe(true);
  });

  it("refuses a time before 2000, also when the clock-skew correction produces one", () => {
    expect(reject({ type: "track", userId: "u", event: "E", timestamp: "1970-01-01T00:00:00Z" })).toMatch(
      /^timestamp is before 2000-01-01/,
    );
    expect(
      reject({
        type: "track",
        userId: "u",
        event: "E",
        timestamp: "-200000-01-01T00:00:00Z",
        sentAt: "+200000-01-01T00:00:00Z",
      }),
    ).toMatch(/^timestamp is before 2000-01-01/);
  });

  it("rejects a message over 32 KB and says what to do", () => {
    const big = { type: "track", event: "E", userId: "u", properties: { blob: "x".repeat(LIMITS.messageBytes) } };
    const reason = reject(big);
    expect(reason).toBe(
      `message is ${JSON.stringify(big).length} bytes; the limit is ${LIMITS.messageBytes} (32 KB) — trim properties`,
    );
  });

  it("counts the size in UTF-8 bytes, not characters", () => {
    expect(jsonByteLength("é")).toBe(4); // two quotes and two bytes
    expect(jsonByteLength({ a: 1 })).toBe(7);
    expect(jsonByteLength(undefined)).toBe(0);
  });

  it.each([null, "a string", 42, ["an", "array"]])("rejects %j, which is not a JSON object", (raw) => {
    expect(reject(raw)).toBe("message must be a JSON object");
  });

  it("every rejection reason is a readable sentence naming the problem", () => {
    const reasons = [
      reject({ type: "track", userId: "u" }),
      reject({ type: "group", userId: "u", groupId: "" }),
      reject({ type: "page", userId: "u", properties: "not an object" }),
    ];
    for (const r of reasons) {
      expect(typeof r).toBe("string");
      expect(r.length).toBeGreaterThan(10);
      expect(r).not.toMatch(/\[object|undefined/);
    }
    expect(reasons[1]).toBe("groupId: must not be empty");
    expect(reasons[2]).toMatch(/^properties: /);
  });
});
