/**
 * The operator console in Debian's Chromium on `npm start`'s runtime: served
 * at `/` under a strict Content-Security-Policy, signed in with an API key
 * typed into a password field — kept in the tab's sessionStorage only, sent
 * only as a header, forgotten on sign-out — showing the service's own
 * numbers, with no console error and no CSP violation.
 */
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { E2E_KEYS, startProductionServer } from "../../scripts/local-server.mjs";
import { postBatch, sinkStatus, waitFor } from "./sink-client";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

let server: Awaited<ReturnType<typeof startProductionServer>>;
let browser: Browser;

beforeAll(async () => {
  server = await startProductionServer();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"],
  });
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

it("serves the console under a strict Content-Security-Policy", async () => {
  const res = await fetch(`${server.url}/`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
  const csp = res.headers.get("content-security-policy") ?? "";
  expect(csp).toContain("default-src 'none'");
  expect(csp).toContain("script-src 'self'");
  expect(csp).not.toContain("unsafe-inline");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(await res.text()).toContain('<input id="api-key" name="api-key" type="password"');
});

it("signs in with a typed API key, shows the service's numbers, and forgets the key on sign-out", async () => {
  // Something to see: an event that reaches the warehouse, and a message without its event name, quarantined.
  const sent = await postBatch(server.url, [
    { type: "track", event: "Console Test", userId: "console-1" },
    { type: "track", userId: "console-1" },
  ]);
  expect(sent.status).toBe(200);
  await waitFor(
    () => sinkStatus(server.url),
    (s) => s.tables.events >= 1,
    "the event in the warehouse",
  );

  const context = await browser.newContext();
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
  });
  const requests: string[] = [];
  page.on("request", (r) => requests.push(r.url()));

  await page.goto(`${server.url}/`);
  // A wrong key is refused, and says so.
  await page.fill("#api-key", "not-a-key");
  await page.press("#api-key", "Enter");
  await page.waitForSelector("#sign-in-error:has-text('not valid')");

  await page.fill("#api-key", E2E_KEYS.apiKey);
  await page.click("#sign-in button[type=submit]");
  await page.waitForSelector("#page h1:has-text('Overview')");
  await page.waitForFunction('/\\d/.test(document.querySelector("#page .stat")?.textContent ?? "")');
  expect(await page.textContent("#page")).toContain("Events in the warehouse");
  await page.waitForSelector("#page table td:has-text('invalid_fields')");
  expect(await page.inputValue("#api-key")).toBe("");

  // The key was only ever a header: in no URL the page requested, and only in this tab's sessionStorage.
  expect(requests.filter((u) => u.includes(E2E_KEYS.apiKey))).toEqual([]);
  expect(await page.evaluate("Object.keys(localStorage)")).toEqual([]);
  expect(await page.evaluate("Object.values(sessionStorage)")).toEqual([E2E_KEYS.apiKey]);

  await page.click("#sign-out");
  await page.waitForSelector("#sign-in:not([hidden])");
  expect(await page.evaluate("sessionStorage.length + localStorage.length")).toBe(0);
  const cookies = await context.cookies();
  expect(JSON.stringify(cookies)).not.toContain(E2E_KEYS.apiKey);
  // A refused first key logs a failed request; nothing else went wrong.
  expect(problems.filter((p) => !p.includes("401"))).toEqual([]);
  await context.close();
});

it("finds a person by e-mail and shows their affinities change after an event arrives", async () => {
  const userId = `console-${crypto.randomUUID().slice(0, 8)}`;
  const email = `${userId}@example.com`;
  const sent = await postBatch(server.url, [
    { type: "identify", userId, traits: { email, name: "Console Person" } },
    {
      type: "track",
      event: "Product Viewed",
      userId,
      properties: { product_id: "sku-001", category: "Running Shoes" },
    },
  ]);
  expect(sent.status).toBe(200);

  const context = await browser.newContext();
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console error: ${m.text()}`);
  });
  await page.goto(`${server.url}/`);
  await page.fill("#api-key", E2E_KEYS.apiKey);
  await page.press("#api-key", "Enter");
  await page.waitForSelector("#page h1:has-text('Overview')");
  // Keyboard-usable: the navigation is links, reached and followed from the keyboard.
  await page.focus("#nav a[href='#/people']");
  await page.keyboard.press("Enter");
  await page.waitForSelector("#people-query");
  await page.fill("#people-query", email);
  await page.press("#people-query", "Enter");
  await page.waitForSelector(`#person h2:has-text('user_id:${userId}')`);
  expect(await page.textContent("#person")).toContain("Console Person");
  await page.waitForSelector(".bars li:has-text('category:running-shoes')");
  expect(await page.locator(".bars li:has-text('category:trail')").count()).toBe(0);

  // An event arrives; the open page shows the new interest without being reloaded.
  const more = await postBatch(server.url, [
    { type: "track", event: "Product Viewed", userId, properties: { product_id: "sku-002", category: "Trail" } },
  ]);
  expect(more.status).toBe(200);
  await page.waitForSelector(".bars li:has-text('category:trail')", { timeout: 20_000 });
  expect(problems).toEqual([]);
  await context.close();
}, 60_000);

it("refuses an API key in a query string", async () => {
  const res = await fetch(`${server.url}/v1/sink/status?key=${E2E_KEYS.apiKey}`);
  expect(res.status).toBe(401);
});
