import { describe, expect, it } from "vitest";
import {
  base64Decode,
  base64UrlEncode,
  type LinkClaims,
  signingSecrets,
  signToken,
  verifyToken,
} from "../../src/model/signing";
import { T0 } from "./fixtures";

const NOW = T0;
const EXP = Math.floor(NOW / 1000) + 3600;

const CLICK: LinkClaims = {
  kind: "c",
  profile: "user_id:42",
  campaign: "spring-sale",
  variant: null,
  url: "https://shop.example/p/shoe-1?utm_source=email",
  productId: "shoe-1",
  exp: EXP,
};

function encodeJson(value: unknown): string {
  return base64UrlEncode(new TextEncoder().encode(JSON.stringify(value)));
}

describe("signed email links", () => {
  it("a signed token verifies and gives back the same claims", async () => {
    const token = await signToken(CLICK, "s3cret");
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(await verifyToken(token, ["s3cret"], NOW)).toEqual({ ok: true, claims: CLICK });
  });

  it("claims with non-ASCII text survive the round trip", async () => {
    const claims: LinkClaims = { ...CLICK, profile: "user_id:zoë", campaign: "été ☀️" };
    const v = await verifyToken(await signToken(claims, "s3cret"), ["s3cret"], NOW);
    expect(v).toEqual({ ok: true, claims });
  });

  it("a token whose claims were swapped for a different redirect target fails", async () => {
    const token = await signToken(CLICK, "s3cret");
    const mac = token.slice(token.indexOf(".") + 1);
    const forged = `${encodeJson({ ...CLICK, url: "https://evil.example/phish" })}.${mac}`;
    expect(await verifyToken(forged, ["s3cret"], NOW)).toEqual({
      ok: false,
      reason: "link token signature does not match",
    });
  });

  it("a token with a changed signature fails", async () => {
    const token = await signToken(CLICK, "s3cret");
    const dot = token.indexOf(".");
    // Flip a character in the middle of the MAC (the last one may carry only padding bits).
    const i = dot + 10;
    const flipped = token.slice(0, i) + (token[i] === "A" ? "B" : "A") + token.slice(i + 1);
    expect(flipped).not.toBe(token);
    expect((await verifyToken(flipped, ["s3cret"], NOW)).ok).toBe(false);
  });

  it("a token signed with another secret fails", async () => {
    const token = await signToken(CLICK, "someone-elses-secret");
    expect(await verifyToken(token, ["s3cret"], NOW)).toEqual({
      ok: false,
      reason: "link token signature does not match",
    });
  });

  it("a link works until its expiry second and not a millisecond after", async () => {
    const token = await signToken(CLICK, "s3cret");
    expect((await verifyToken(token, ["s3cret"], EXP * 1000)).ok).toBe(true);
    expect(await verifyToken(token, ["s3cret"], EXP * 1000 + 1)).toEqual({ ok: false, reason: "link has expired" });
  });

  it("links signed with the previous secret keep working after a rotation", async () => {
    const old = await signToken(CLICK, "old-secret");
    const fresh = await signToken(CLICK, "new-secret");
    const rotated = signingSecrets("new-secret, old-secret");
    expect((await verifyToken(old, rotated, NOW)).ok).toBe(true);
    expect((await verifyToken(fresh, rotated, NOW)).ok).toBe(true);
    // Once the old secret is retired, its links stop working.
    expect((await verifyToken(old, signingSecrets("new-secret"), NOW)).ok).toBe(false);
  });

  it("no secret configured means no link verifies", async () => {
    const token = await signToken(CLICK, "s3cret");
    expect(await verifyToken(token, [], NOW)).toEqual({ ok: false, reason: "link token is not signed" });
  });

  it.each([
    ["", "link token is malformed"],
    ["no-dot-at-all", "link token is malformed"],
    [".starts-with-a-dot", "link token is malformed"],
    [`${"a".repeat(4096)}.b`, "link token is malformed"],
    ["body.not*base64!", "link token is not signed"],
  ])("refuses the garbage token %#", async (token, reason) => {
    expect(await verifyToken(token, ["s3cret"], NOW)).toEqual({ ok: false, reason });
  });

  it("a correctly signed token that does not carry link claims is refused", async () => {
    const notClaims = encodeJson({ kind: "x", profile: 1 });
    const mac = new Uint8Array(
      await crypto.subtle.sign(
        "HMAC",
        await crypto.subtle.importKey(
          "raw",
          new TextEncoder().encode("s3cret"),
          { name: "HMAC", hash: "SHA-256" },
          false,
          ["sign"],
        ),
        new TextEncoder().encode(notClaims),
      ),
    );
    expect(await verifyToken(`${notClaims}.${base64UrlEncode(mac)}`, ["s3cret"], NOW)).toEqual({
      ok: false,
      reason: "link token is malformed",
    });
  });
});

describe("base64", () => {
  it("encodes URL-safe without padding and decodes both alphabets", () => {
    const bytes = Uint8Array.from([0xfb, 0xff, 0xbf, 0x00, 0x10]);
    const encoded = base64UrlEncode(bytes);
    expect(encoded).toBe("-_-_ABA");
    expect(base64Decode(encoded)).toEqual(bytes);
    expect(base64Decode("+/+/ABA=")).toEqual(bytes);
  });

  it("says null for text that is not base64", () => {
    expect(base64Decode("not base64!")).toBeNull();
    expect(base64Decode("abc===")).toBeNull();
  });
});

describe("signingSecrets", () => {
  it("reads a comma-separated list, the first entry signing, blanks ignored", () => {
    expect(signingSecrets(" new , old,, ")).toEqual(["new", "old"]);
    expect(signingSecrets(undefined)).toEqual([]);
    expect(signingSecrets("")).toEqual([]);
  });
});
