import { describe, expect, it } from "vitest";
import { batchRequest, LIMITS, MESSAGE_TYPES, segmentMessage } from "../../src/model/messages";

describe("Segment message schemas", () => {
  it("accepts one minimal message of every Segment type", () => {
    const minimal: Record<(typeof MESSAGE_TYPES)[number], Record<string, unknown>> = {
      track: { event: "Product Viewed", userId: "u" },
      identify: { userId: "u" },
      page: { anonymousId: "a" },
      screen: { anonymousId: "a" },
      group: { groupId: "g", userId: "u" },
      alias: { previousId: "a", userId: "u" },
    };
    for (const type of MESSAGE_TYPES) {
      expect(segmentMessage.safeParse({ type, ...minimal[type] }).success, type).toBe(true);
    }
  });

  it("an alias needs both the previous id and the new user id", () => {
    expect(segmentMessage.safeParse({ type: "alias", previousId: "a" }).success).toBe(false);
    expect(segmentMessage.safeParse({ type: "alias", userId: "u" }).success).toBe(false);
  });

  it("a group call needs a group id", () => {
    expect(segmentMessage.safeParse({ type: "group", userId: "u" }).success).toBe(false);
  });

  it("a numeric id must be a whole number JSON carries exactly; the same digits as a string are kept", () => {
    for (const userId of [2 ** 53, 1.25, -(2 ** 60)]) {
      const parsed = segmentMessage.safeParse({ type: "identify", userId });
      expect(parsed.success, String(userId)).toBe(false);
    }
    expect(segmentMessage.parse({ type: "identify", userId: 2 ** 53 - 1 }).userId).toBe("9007199254740991");
    expect(segmentMessage.parse({ type: "identify", userId: "9007199254740993" }).userId).toBe("9007199254740993");
  });

  it("properties, traits and context must be objects", () => {
    expect(segmentMessage.safeParse({ type: "track", event: "E", userId: "u", properties: [1] }).success).toBe(false);
    expect(segmentMessage.safeParse({ type: "identify", userId: "u", traits: "pro" }).success).toBe(false);
    expect(segmentMessage.safeParse({ type: "page", userId: "u", context: 1 }).success).toBe(false);
  });

  it(`event names are limited to ${LIMITS.nameChars} characters`, () => {
    const long = "E".repeat(LIMITS.nameChars + 1);
    expect(segmentMessage.safeParse({ type: "track", event: long, userId: "u" }).success).toBe(false);
  });

  it("a batch body carries a list of messages plus shared context and sentAt", () => {
    const ok = batchRequest.safeParse({ batch: [{}], context: { ip: "1.2.3.4" }, sentAt: "2026-03-01T00:00:00Z" });
    expect(ok.success).toBe(true);
    expect(batchRequest.safeParse({ batch: {} }).success).toBe(false);
    expect(batchRequest.safeParse({ batch: [], sentAt: "soon" }).success).toBe(false);
  });
});
