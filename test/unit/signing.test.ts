import { describe, expect, it } from "vitest";
import {
  base64Decode,
  base64UrlEncode,
  canonicalBase64UrlDecode,
  type LinkClaims,
  sealToken,
  signingSecrets,
  verifyToken,
} from "../../src/model/signing";
import { T0 } from "./fixtures";

const NOW = T0;
const EXP = Math.floor(NOW / 1000) + 3600;

const CLICK: LinkClaims = {
  kind: "c",
  profile: "user_id:jane.doe@example.com",
  campaign: "spring-sale",
  variant: null,
  url: "https://shop.example/p/shoe-1?utm_source=email",
  productId: "shoe-1",
  emailId: "e-123",
  exp: EXP,
};

const encoder = new TextEncoder();

/** A link as issued before tokens were sealed: base64url JSON claims, a dot, base64url HMAC-SHA256. */
async function legacyToken(claims: unknown, secret: string): Promise<string> {
  const body = base64UrlEncode(encoder.encode(JSON.stringify(claims)));
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(body)));
  return `${body}.${base64UrlEncode(mac)}`;
}

/** Every way someone might decode a token looking for what it says. */
function decodings(token: string): string[] {
  const latin1 = (bytes: Uint8Array | null) => (bytes ? String.fromCharCode(...bytes) : "");
  return [
    token,
    latin1(base64Decode(token)),
    new TextDecoder().decode(base64Decode(token) ?? new Uint8Array()),
    ...[1, 2, 3].map((shift) => latin1(base64Decode(token.slice(shift)))),
  ];
}

describe("sealed email links", () => {
  it("a sealed token verifies and gives back the same claims", async () => {
    const token = await sealToken(CLICK, "s3cret");
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(await verifyToken(token, ["s3cret"], NOW)).toEqual({ ok: true, claims: CLICK });
  });

  it("claims with non-ASCII text and empty fields survive the round trip", async () => {
    const claims: LinkClaims = { kind: "o", profile: "user_id:zoë", campaign: "été ☀️", variant: "b", exp: EXP };
    expect(await verifyToken(await sealToken(claims, "s3cret"), ["s3cret"], NOW)).toEqual({ ok: true, claims });
  });

  it("reveals neither the user id, the address nor the target in any decoding", async () => {
    const token = await sealToken(CLICK, "s3cret");
    for (const text of decodings(token)) {
      for (const secret of ["jane.doe", "example.com", "user_id", "shoe-1", "spring-sale", "shop.example"]) {
        expect(text).not.toContain(secret);
      }
    }
    // A new link for the same claims is a different string: equal links cannot be matched across e-mails.
    expect(await sealToken(CLICK, "s3cret")).not.toBe(token);
  });

  it("stays short: a click link with its product URL fits well within 300 characters", async () => {
    const token = await sealToken(CLICK, "s3cret");
    expect(token.length).toBeLessThan(300);
    expect(token.length).toBeLessThan((await legacyToken(CLICK, "s3cret")).length);
  });

  it("fails when any single byte of the token is changed", async () => {
    const token = await sealToken(CLICK, "s3cret");
    const bytes = canonicalBase64UrlDecode(token) as Uint8Array;
    for (let i = 0; i < bytes.length; i++) {
      const changed = Uint8Array.from(bytes);
      changed[i] = (changed[i] ?? 0) ^ 0x01;
      const verified = await verifyToken(base64UrlEncode(changed), ["s3cret"], NOW);
      expect(verified.ok, `byte ${i}`).toBe(false);
    }
  });

  it("fails when the token is cut short or extended", async () => {
    const token = await sealToken(CLICK, "s3cret");
    for (const bad of [token.slice(0, -4), token.slice(0, 20), `${token}AAAA`, token.slice(4)]) {
      expect((await verifyToken(bad, ["s3cret"], NOW)).ok, bad).toBe(false);
    }
  });

  it("refuses every non-canonical spelling of a valid token", async () => {
    // Pick a token whose base64 has both alphabets' special characters, so + and / variants exist.
    let token = "";
    while (!/[-_]/.test(token) || token.length % 4 === 0) token = await sealToken(CLICK, "s3cret");
    const standard = token.replace(/-/g, "+").replace(/_/g, "/");
    const padded = `${token}${"=".repeat((4 - (token.length % 4)) % 4)}`;
    for (const variant of [standard, padded, ` ${token}`, `${token}\n`, `${token.slice(0, 10)} ${token.slice(10)}`]) {
      expect(await verifyToken(variant, ["s3cret"], NOW), JSON.stringify(variant)).toMatchObject({ ok: false });
    }
    // Changing unused trailing bits decodes to the same bytes, and is refused too.
    const last = token.at(-1) as string;
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const sibling = alphabet[alphabet.indexOf(last) ^ 1] as string;
    const trailing = token.slice(0, -1) + sibling;
    expect(base64Decode(trailing)).toEqual(base64Decode(token));
    expect((await verifyToken(trailing, ["s3cret"], NOW)).ok).toBe(false);
  });

  it("a token sealed with another secret fails", async () => {
    const token = await sealToken(CLICK, "someone-elses-secret");
    expect(await verifyToken(token, ["s3cret"], NOW)).toEqual({
      ok: false,
      reason: "link token does not match any link secret",
    });
  });

  it("a link works until its expiry second and not a millisecond after", async () => {
    const token = await sealToken(CLICK, "s3cret");
    expect((await verifyToken(token, ["s3cret"], EXP * 1000)).ok).toBe(true);
    expect(await verifyToken(token, ["s3cret"], EXP * 1000 + 1)).toEqual({ ok: false, reason: "link has expired" });
  });

  it("links sealed with the previous secret keep working after a rotation", async () => {
    const old = await sealToken(CLICK, "old-secret");
    const fresh = await sealToken(CLICK, "new-secret");
    const rotated = signingSecrets("new-secret, old-secret");
    expect(await verifyToken(old, rotated, NOW)).toEqual({ ok: true, claims: CLICK });
    expect(await verifyToken(fresh, rotated, NOW)).toEqual({ ok: true, claims: CLICK });
    // Once the old secret is retired, its links stop working.
    expect((await verifyToken(old, signingSecrets("new-secret"), NOW)).ok).toBe(false);
  });

  it("refuses a token of an unknown format version", async () => {
    const bytes = canonicalBase64UrlDecode(await sealToken(CLICK, "s3cret")) as Uint8Array;
    bytes[0] = 2;
    expect(await verifyToken(base64UrlEncode(bytes), ["s3cret"], NOW)).toEqual({
      ok: false,
      reason: "link token version is not supported",
    });
  });

  it("no secret configured means no link verifies", async () => {
    const token = await sealToken(CLICK, "s3cret");
    expect((await verifyToken(token, [], NOW)).ok).toBe(false);
  });

  it.each([
    [""],
    ["no-dot-but-too-short"],
    [".starts-with-a-dot"],
    [`${"a".repeat(4096)}b`],
    ["body.not*base64!"],
    ["a.b.c"],
  ])("refuses the garbage token %#", async (token) => {
    expect(await verifyToken(token, ["s3cret"], NOW)).toMatchObject({ ok: false });
  });
});

describe("links issued before sealing", () => {
  const { emailId: _emailId, ...legacy } = CLICK;

  it("still verify, with the secret of the day or a previous one", async () => {
    const token = await legacyToken(legacy, "old-secret");
    expect(await verifyToken(token, signingSecrets("new-secret,old-secret"), NOW)).toEqual({
      ok: true,
      claims: legacy,
    });
    expect((await verifyToken(token, ["new-secret"], NOW)).ok).toBe(false);
  });

  it("expire like sealed ones", async () => {
    const token = await legacyToken(legacy, "s3cret");
    expect(await verifyToken(token, ["s3cret"], EXP * 1000 + 1)).toEqual({ ok: false, reason: "link has expired" });
  });

  it("fail when the claims are swapped for another redirect target", async () => {
    const token = await legacyToken(legacy, "s3cret");
    const mac = token.slice(token.indexOf(".") + 1);
    const body = base64UrlEncode(encoder.encode(JSON.stringify({ ...legacy, url: "https://evil.example/phish" })));
    expect(await verifyToken(`${body}.${mac}`, ["s3cret"], NOW)).toEqual({
      ok: false,
      reason: "link token signature does not match",
    });
  });

  it("are refused in any non-canonical spelling", async () => {
    let token = "";
    for (let n = 0; !/[-_]/.test(token) || token.split(".").every((p) => p.length % 4 === 0); n++) {
      token = await legacyToken({ ...legacy, campaign: `c-${n}` }, "s3cret");
    }
    expect((await verifyToken(token, ["s3cret"], NOW)).ok).toBe(true);
    const [body = "", mac = ""] = token.split(".");
    const pad = (s: string) => `${s}${"=".repeat((4 - (s.length % 4)) % 4)}`;
    const variants = [
      token.replace(/-/g, "+").replace(/_/g, "/"),
      `${pad(body)}.${pad(mac)}`,
      `${body}.${pad(mac)}`,
      `${body} .${mac}`,
      `${body}.${mac}\t`,
    ].filter((v) => v !== token);
    expect(variants.length).toBeGreaterThanOrEqual(4);
    for (const v of variants) expect((await verifyToken(v, ["s3cret"], NOW)).ok, JSON.stringify(v)).toBe(false);
  });

  it("a correctly signed token that does not carry link claims is refused", async () => {
    const token = await legacyToken({ kind: "x", profile: 1 }, "s3cret");
    expect(await verifyToken(token, ["s3cret"], NOW)).toEqual({ ok: false, reason: "link token is malformed" });
  });
});

describe("base64", () => {
  it("encodes URL-safe without padding; the lenient decoder (pixels) reads both alphabets", () => {
    const bytes = Uint8Array.from([0xfb, 0xff, 0xbf, 0x00, 0x10]);
    const encoded = base64UrlEncode(bytes);
    expect(encoded).toBe("-_-_ABA");
    expect(base64Decode(encoded)).toEqual(bytes);
    expect(base64Decode("+/+/ABA=")).toEqual(bytes);
  });

  it("the canonical decoder reads only the one spelling base64UrlEncode writes", () => {
    const bytes = Uint8Array.from([0xfb, 0xff, 0xbf, 0x00, 0x10]);
    expect(canonicalBase64UrlDecode("-_-_ABA")).toEqual(bytes);
    for (const other of ["+/+/ABA", "-_-_ABA=", "-_-_ABB", " -_-_ABA", "-_-_A"]) {
      expect(canonicalBase64UrlDecode(other), other).toBeNull();
    }
  });

  it("says null for text that is not base64", () => {
    expect(base64Decode("not base64!")).toBeNull();
    expect(base64Decode("abc===")).toBeNull();
  });
});

describe("signingSecrets", () => {
  it("reads a comma-separated list, the first entry sealing, blanks ignored", () => {
    expect(signingSecrets(" new , old,, ")).toEqual(["new", "old"]);
    expect(signingSecrets(undefined)).toEqual([]);
    expect(signingSecrets("")).toEqual([]);
  });
});
