import { describe, expect, it } from "vitest";
import {
  EMAIL_LINK_CLICKED,
  type LinkClick,
  linkClickOf,
  linkEventId,
  SCANNER_BURST_MS,
  scannerClicks,
} from "../../src/model/link-activity";
import { HOUR, profileEvent, T0 } from "./fixtures";

const LINK = { token: "AbC-123_x", profile: "user_id:42" };
const DAY_MS = 24 * HOUR;

describe("the messageId of an open or click", () => {
  it("is the same for every visit of one link by one person within a window", async () => {
    const start = Math.floor(T0 / DAY_MS) * DAY_MS;
    const id = await linkEventId(LINK, start, DAY_MS, false);
    expect(id).toMatch(/^link-[0-9a-f]{32}$/);
    expect(await linkEventId(LINK, start + DAY_MS - 1, DAY_MS, false)).toBe(id);
  });

  it("differs for another window, link, person or a crawler's visit", async () => {
    const id = await linkEventId(LINK, T0, DAY_MS, false);
    const others = [
      await linkEventId(LINK, T0 + DAY_MS, DAY_MS, false),
      await linkEventId({ ...LINK, token: "AbC-123_y" }, T0, DAY_MS, false),
      await linkEventId({ ...LINK, profile: "user_id:43" }, T0, DAY_MS, false),
      await linkEventId(LINK, T0, DAY_MS, true),
    ];
    expect(new Set([id, ...others]).size).toBe(5);
  });

  it("names neither the person nor the link", async () => {
    const id = await linkEventId({ token: "tok", profile: "user_id:jane@example.com" }, T0, DAY_MS, false);
    expect(id).not.toContain("jane");
    expect(id).not.toContain("tok");
  });
});

const click = (messageId: string, link: string, at: number, emailId = "e-1"): LinkClick => ({
  messageId,
  emailId,
  link,
  at,
});

describe("clicks too fast to be a reader's", () => {
  it("are the second and later links of one e-mail clicked within the burst", () => {
    const flagged = scannerClicks(
      [],
      [click("a", "p-1", T0), click("b", "p-2", T0 + 300), click("c", "p-3", T0 + 900)],
    );
    expect([...flagged].sort()).toEqual(["b", "c"]);
  });

  it("include a click right after one already recorded, whatever the order they arrive in", () => {
    expect(scannerClicks([click("a", "p-1", T0)], [click("b", "p-2", T0 + SCANNER_BURST_MS)])).toEqual(new Set(["b"]));
    expect(scannerClicks([], [click("c", "p-3", T0 + 500), click("d", "p-4", T0)])).toEqual(new Set(["c"]));
  });

  it("leave a reader's clicks alone: the same link again, a link a moment later, another e-mail", () => {
    expect(scannerClicks([click("a", "p-1", T0)], [click("b", "p-1", T0 + 100)]).size).toBe(0);
    expect(scannerClicks([click("a", "p-1", T0)], [click("b", "p-2", T0 + SCANNER_BURST_MS + 1)]).size).toBe(0);
    expect(scannerClicks([click("a", "p-1", T0, "e-1")], [click("b", "p-2", T0 + 100, "e-2")]).size).toBe(0);
  });
});

describe("linkClickOf", () => {
  it("reads a click event's e-mail and link, the product first, else the URL", () => {
    const e = profileEvent({
      name: EMAIL_LINK_CLICKED,
      timestamp: T0,
      properties: { email_id: "e-1", product_id: "p-1", url: "https://shop.example/p-1" },
    });
    expect(linkClickOf(e)).toEqual({ messageId: e.messageId, emailId: "e-1", link: "p-1", at: T0 });
    const byUrl = profileEvent({ name: EMAIL_LINK_CLICKED, properties: { email_id: "e-1", url: "https://x.example" } });
    expect(linkClickOf(byUrl)?.link).toBe("https://x.example");
  });

  it("ignores other events and clicks of links issued without an e-mail id", () => {
    expect(linkClickOf(profileEvent({ name: "Product Viewed", properties: { email_id: "e", product_id: "p" } }))).toBe(
      null,
    );
    expect(linkClickOf(profileEvent({ name: EMAIL_LINK_CLICKED, properties: { product_id: "p" } }))).toBeNull();
  });
});
