/**
 * A real browser on a real shop page: headless Chromium (Debian's package,
 * driven by playwright-core) loads the demo shop from its own origin with
 * each of the two scripts — the service's `/t.js` and Segment's
 * analytics-next pointed here with `cdnURL` — views a product, adds it to the
 * cart, signs in and leaves; the profile that results is read back over the API.
 */
import { readFileSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDemoShop } from "../../scripts/demo-shop.mjs";
import { E2E_KEYS, startLocalServer } from "../../scripts/local-server.mjs";
import type { ProfileView as Profile } from "../../src/model/views";
import { waitFor } from "./sink-client";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

let server: Awaited<ReturnType<typeof startLocalServer>>;
let shop: Awaited<ReturnType<typeof startDemoShop>>;
let browser: Browser;

async function api<T>(path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(`${server.url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${E2E_KEYS.apiKey}`, "content-type": "application/json", ...init.headers },
  });
  return { status: res.status, body: (await res.json()) as T };
}

beforeAll(async () => {
  server = await startLocalServer();
  const loaded = await api("/v1/catalog/products", {
    method: "PUT",
    body: readFileSync("scripts/demo-catalog.json", "utf8"),
  });
  expect(loaded.status).toBe(200);
  shop = await startDemoShop({ service: server.url, writeKey: E2E_KEYS.browserKey });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"],
  });
});

afterAll(async () => {
  await browser?.close();
  await shop?.stop();
  await server?.stop();
});

describe.each([
  { lib: "tracker", cookie: "ep_aid" },
  { lib: "segment", cookie: "ajs_anonymous_id" },
])("a shopper on a page with $lib", ({ lib, cookie }) => {
  it("builds one profile from anonymous browsing, a cart add and the sign-in", async () => {
    // Headless Chromium says "HeadlessChrome" in its user agent, which the service rightly counts as a bot
    // (kept out of affinities); a shopper's browser says Chrome.
    const userAgent = `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${browser.version()} Safari/537.36`;
    const context = await browser.newContext({ userAgent });
    const page = await context.newPage();
    const failures: string[] = [];
    page.on("pageerror", (err) => failures.push(err.message));
    const handle = `${lib}-${crypto.randomUUID().slice(0, 8)}`;
    const email = `${handle}@example.com`;
    const userId = `user-${handle}`;

    await page.goto(`${shop.url}/p/sku-007?lib=${lib}`);
    await page.click("#add");
    await page.waitForSelector("#status:has-text('added')");
    const anonymousId = String(await page.evaluate("shop.anonymousId()"));
    expect(anonymousId).toMatch(/^[0-9a-f-]{36}$/);
    // The anonymous id lives first-party, on the shop's own origin.
    const cookies = await context.cookies(shop.url);
    expect(cookies.find((c) => c.name === cookie)?.value).toContain(anonymousId);

    // Anonymous browsing reaches the visitor's profile before anyone signs in.
    await waitFor(
      () => api<Profile>(`/v1/profiles/anonymous_id:${anonymousId}`),
      (r) => r.status === 200 && r.body.counts.events >= 3,
      `${lib}: anonymous events`,
    );

    await page.fill("#email", email);
    await page.click("#signin-button");
    await page.waitForSelector("#status:has-text('signed in')");
    // Leaving the page flushes what is still queued (pagehide → sendBeacon).
    await page.click("#home");
    await page.waitForURL(`${shop.url}/?lib=${lib}`);

    const person = await waitFor(
      () => api<Profile>(`/v1/profiles/user_id:${userId}`),
      (r) => r.status === 200 && r.body.counts.events >= 5 && r.body.anonymousIds.includes(anonymousId),
      `${lib}: the signed-in profile`,
    );
    expect(person.body).toMatchObject({ id: `user_id:${userId}`, userId, traits: { email } });
    const dimensions = person.body.affinities.map((a) => a.dimension);
    expect(dimensions).toEqual(expect.arrayContaining(["product:sku-007", "category:trail-shoes", "brand:ridgeline"]));
    // The view (weight 1) and the cart add (weight 3) both counted, once each.
    const product = person.body.affinities.find((a) => a.dimension === "product:sku-007")?.score ?? 0;
    expect(product).toBeGreaterThan(3.99);
    expect(product).toBeLessThanOrEqual(4);

    const byAnon = await api<Profile>(`/v1/profiles/anonymous_id:${anonymousId}`);
    expect(byAnon.body.id).toBe(`user_id:${userId}`);
    const byEmail = await api<Profile>(`/v1/profiles/email:${email}`);
    expect(byEmail.body.id).toBe(`user_id:${userId}`);
    const recs = await api<{ items: { productId: string }[]; strategy: string }>(
      `/v1/profiles/user_id:${userId}/recommendations`,
    );
    expect(recs.body.strategy).toBe("personalized");
    expect(failures).toEqual([]);
    await context.close();
  });
});
