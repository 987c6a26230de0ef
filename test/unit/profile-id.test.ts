import { describe, expect, it } from "vitest";
import { actorNameOf, type ProfileRef, parseProfileId } from "../../src/model/profile-id";

function ref(raw: string): ProfileRef {
  const parsed = parseProfileId(raw);
  if (!parsed.ok) throw new Error(`expected ${raw} to parse: ${parsed.reason}`);
  return parsed.ref;
}

describe("profile ids", () => {
  it.each([
    ["user_id:42", { kind: "user", value: "42" }],
    ["anonymous_id:abc-123", { kind: "anonymous", value: "abc-123" }],
    ["email:jane@example.com", { kind: "email", value: "jane@example.com" }],
    ["42", { kind: "user", value: "42" }],
    ["user_id:  42  ", { kind: "user", value: "42" }],
  ])("reads %j", (raw, expected) => {
    expect(ref(raw)).toEqual(expected);
  });

  it("keeps everything after the first colon as the id", () => {
    expect(ref("user_id:tenant:42")).toEqual({ kind: "user", value: "tenant:42" });
  });

  it("ignores spaces around the whole id", () => {
    expect(ref("  user_id:42 ")).toEqual({ kind: "user", value: "42" });
  });

  it("does not take object built-in names for prefixes", () => {
    expect(ref("constructor:abc")).toEqual({ kind: "user", value: "constructor:abc" });
    expect(ref("toString:abc")).toEqual({ kind: "user", value: "toString:abc" });
  });

  it("treats an unknown prefix as part of a bare user id", () => {
    expect(ref("phone:555-0100")).toEqual({ kind: "user", value: "phone:555-0100" });
    expect(ref(":abc")).toEqual({ kind: "user", value: ":abc" });
  });

  it("rejects an empty id and says which forms work", () => {
    for (const raw of ["", "   ", "user_id:", "anonymous_id:  "]) {
      expect(parseProfileId(raw)).toEqual({
        ok: false,
        reason: "profile id is empty; use user_id:<id>, anonymous_id:<id> or a bare user id",
      });
    }
  });

  it("rejects an id longer than 256 characters", () => {
    expect(parseProfileId(`user_id:${"x".repeat(256)}`).ok).toBe(true);
    expect(parseProfileId(`user_id:${"x".repeat(257)}`)).toEqual({
      ok: false,
      reason: "profile id is longer than 256 characters",
    });
  });

  it("names the actor of a user or an anonymous visitor, but not of an email address", () => {
    expect(actorNameOf(ref("user_id:42"))).toBe("user:42");
    expect(actorNameOf(ref("anonymous_id:abc"))).toBe("anon:abc");
    expect(actorNameOf(ref("email:jane@example.com"))).toBeNull();
  });
});
