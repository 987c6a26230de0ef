import { describe, expect, it } from "vitest";
import { anonymizeIp, campaignOf, enrichContext, normalizeTraits, summarizeUserAgent } from "../../src/model/enrich";
import { type ValidationContext, validateMessage } from "../../src/model/validate";
import { T0 } from "./fixtures";

const CHROME_MAC =
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
const SAFARI_IPHONE =
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
const GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

describe("client address anonymization", () => {
  it.each([
    ["203.0.113.77", "203.0.113.0"],
    [" 198.51.100.9 ", "198.51.100.0"],
    ["::ffff:192.0.2.44", "192.0.2.0"],
    ["2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::"],
    ["2001:db8::1", "2001:db8:0::"],
    ["fe80::1%eth0", "fe80:0:0::"],
  ])("keeps only the network part of %s", (ip, anonymized) => {
    expect(anonymizeIp(ip)).toBe(anonymized);
  });

  it.each(["999.1.1.1", "1.2.3", "not an address", "1::2::3", "12345::"])("refuses %j rather than guess", (ip) => {
    expect(anonymizeIp(ip)).toBeNull();
  });
});

describe("user agents", () => {
  it("reduces a desktop browser to device class, browser and OS", () => {
    expect(summarizeUserAgent(CHROME_MAC)).toEqual({
      device: { type: "desktop" },
      browser: { name: "Chrome", version: "124" },
      os: { name: "Mac OS", version: "10.15.7" },
      bot: false,
    });
  });

  it("recognises a phone", () => {
    const s = summarizeUserAgent(SAFARI_IPHONE);
    expect(s.device.type).toBe("mobile");
    expect(s.os.name).toBe("iOS");
    expect(s.bot).toBe(false);
  });

  it("flags known crawlers as bots", () => {
    expect(summarizeUserAgent(GOOGLEBOT)).toMatchObject({ device: { type: "bot" }, bot: true });
  });
});

describe("campaigns and traits", () => {
  it("reads utm parameters from the page URL, lower-cased, the message's own campaign winning", () => {
    expect(
      campaignOf("https://shop.example.com/?utm_source=Newsletter&utm_medium=email&utm_campaign=Spring%20Sale", {
        medium: "Email-Digest",
      }),
    ).toEqual({ source: "newsletter", medium: "email-digest", name: "spring sale" });
    expect(campaignOf("/relative?utm_source=x", undefined)).toBeNull();
    expect(campaignOf(null, null)).toBeNull();
  });

  it("trims and lower-cases an e-mail trait and leaves other traits alone", () => {
    expect(normalizeTraits({ email: "  Jane@Example.COM ", name: "Jane" })).toEqual({
      email: "jane@example.com",
      name: "Jane",
    });
    expect(normalizeTraits({ plan: "pro" })).toEqual({ plan: "pro" });
  });
});

describe("the stored context", () => {
  it("holds no full address and no raw user agent", () => {
    const context = enrichContext(
      { ip: "203.0.113.77", userAgent: CHROME_MAC, userAgentData: { mobile: false }, locale: "en-GB" },
      { ip: "198.51.100.1", userAgent: SAFARI_IPHONE },
      null,
    );
    expect(context).toEqual({
      ip: "203.0.113.0",
      locale: "en-GB",
      device: { type: "desktop" },
      browser: { name: "Chrome", version: "124" },
      os: { name: "Mac OS", version: "10.15.7" },
    });
    expect(JSON.stringify(context)).not.toContain("203.0.113.77");
  });

  it("falls back to the request's address and user agent", () => {
    const context = enrichContext({}, { ip: "2001:db8:85a3:8d3:1319:8a2e:370:7348", userAgent: GOOGLEBOT }, null);
    expect(context).toMatchObject({ ip: "2001:db8:85a3::", device: { type: "bot" }, bot: true });
  });

  it("ignores a server SDK's own HTTP client and address: they are not the person's", () => {
    expect(enrichContext({ locale: "en" }, { ip: "198.51.100.1", userAgent: "axios/1.7.2" }, null)).toEqual({
      locale: "en",
    });
    // The person's user agent forwarded in the message still counts.
    expect(
      enrichContext({ userAgent: GOOGLEBOT }, { ip: "198.51.100.1", userAgent: "axios/1.7.2" }, null),
    ).toMatchObject({
      bot: true,
    });
  });

  it("is what validation hands the actor", () => {
    const ctx: ValidationContext = {
      receivedAt: T0,
      newMessageId: () => "id",
      client: { ip: "192.0.2.200", userAgent: CHROME_MAC },
    };
    const v = validateMessage(
      {
        type: "identify",
        userId: "u",
        traits: { email: "ADA@example.com" },
        context: { page: { url: "https://shop.example.com/?utm_campaign=Launch" } },
      },
      ctx,
    );
    if (!v.ok) throw new Error(v.reason);
    expect(v.event.traits.email).toBe("ada@example.com");
    expect(v.event.context).toMatchObject({
      ip: "192.0.2.0",
      campaign: { name: "launch" },
      browser: { name: "Chrome" },
    });
  });
});
