/**
 * The operator console in Debian's Chromium on `npm start`'s runtime: served
 * at `/` under a strict Content-Security-Policy, signed in with an API key
 * typed into a password field — kept in the tab's sessionStorage only, sent
 * only as a header, forgotten on sign-out — showing the service's own
 * numbers, with no console error and no CSP violation.
 *
 * `npm run simulate` fills the service first, as it would a fresh
 * `npm start`; then every page is used as an operator would, scanned with
 * axe-core (no serious or critical violation) and photographed into
 * docs/screenshots/ (the README shows them). The pages' own checks live in
 * test/e2e/console/.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { E2E_KEYS, startProductionServer } from "../../scripts/local-server.mjs";
import { catalogPage, privacyPage, qualityPage, quarantinePage } from "./console/data-pages";
import { audiencesPage, experimentsPage } from "./console/experiments-audiences";
import { openPage, screenshot, seriousViolations, signedInTab } from "./console/harness";
import { postBatch, sinkStatus, waitFor } from "./sink-client";

const run = promisify(execFile);

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
  expect(csp).toContain("style-src 'self';");
  // The merge block's preview frame: e-mail HTML's inline styles and images, and no script at all.
  const preview = await fetch(`${server.url}/console/preview.html`);
  const previewCsp = preview.headers.get("content-security-policy") ?? "";
  expect(previewCsp).toContain("default-src 'none'");
  expect(previewCsp).not.toContain("script-src");
  expect(previewCsp).toContain("frame-ancestors 'self'");
  expect(await res.text()).toContain('<input id="api-key" name="api-key" type="password"');
});

it("refuses the API key in a query string, on the routes the console reads", async () => {
  const key = encodeURIComponent(E2E_KEYS.apiKey);
  for (const path of [
    `/v1/sink/status?key=${key}`,
    `/v1/metrics/series?api_key=${key}`,
    `/v1/profiles?q=someone&access_token=${key}`,
    `/v1/profiles/user_id:someone/stream?key=${key}`,
    `/v1/experiments?token=${key}`,
  ]) {
    const res = await fetch(`${server.url}${path}`);
    expect(res.status, path).toBe(401);
    await res.body?.cancel();
  }
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
  // Selectors, not waitForFunction: polling a predicate evaluates a string in the page, which its CSP forbids.
  await page.waitForSelector("#page .stat:text-matches('\\\\d')");
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

it("npm run simulate fills a fresh service: shoppers through the Segment SDK, a campaign's opens and clicks", async () => {
  const { stdout } = await run(process.execPath, ["scripts/simulate.mjs"], {
    env: {
      ...process.env,
      EDGE_PROFILES_URL: server.url,
      WRITE_KEY: E2E_KEYS.writeKey,
      API_KEY: E2E_KEYS.apiKey,
      SIMULATE_SECONDS: "15",
      SIMULATE_SHOPPERS: "40",
      SIMULATE_SEED: "17",
    },
    timeout: 60_000,
  });
  expect(stdout).toContain("done.");
  const auth = { authorization: `Bearer ${E2E_KEYS.apiKey}` };
  const results = (await (
    await fetch(`${server.url}/v1/experiments/weekly-picks-recs/results`, { headers: auth })
  ).json()) as {
    variants: { key: string; recipients: number; openers: number }[];
  };
  const recipients = results.variants.reduce((n, v) => n + v.recipients, 0);
  expect(recipients).toBeGreaterThan(10);
  expect(results.variants.reduce((n, v) => n + v.openers, 0)).toBeGreaterThan(0);
  await waitFor(
    () => sinkStatus(server.url),
    (s) => s.tables.profiles >= 30,
    "the simulated shoppers in the warehouse",
  );
}, 90_000);

it("finds a person by e-mail, watches their affinities change live, and previews their merge block", async () => {
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

  const { context, page, problems } = await signedInTab(browser, server.url);
  const requests: string[] = [];
  page.on("request", (r) => requests.push(r.url()));
  // Keyboard-usable: the navigation is links, reached and followed from the keyboard.
  await openPage(page, "people", "People");
  await page.fill("#people-query", email);
  await page.press("#people-query", "Enter");
  await page.waitForSelector(`#person h2:has-text('user_id:${userId}')`);
  await page.waitForSelector("#person .live:has-text('Live')");
  expect(await page.textContent("#person")).toContain("Console Person");
  await page.waitForSelector(".bars li:has-text('category:running-shoes')");
  expect(await page.locator(".bars li:has-text('category:trail')").count()).toBe(0);

  // An event arrives; the person's actor pushes it to the open page, which nobody reloads.
  const streams = requests.filter((u) => u.endsWith("/stream")).length;
  const more = await postBatch(server.url, [
    { type: "track", event: "Product Viewed", userId, properties: { product_id: "sku-014", category: "Trail" } },
  ]);
  expect(more.status).toBe(200);
  await page.waitForSelector(".bars li:has-text('category:trail')", { timeout: 20_000 });
  await page.waitForSelector("#person-events td:has-text('sku-014')");
  // Pushed over the stream already open: no new request asked for it.
  expect(requests.filter((u) => u.endsWith("/stream")).length).toBe(streams);
  expect(requests.filter((u) => u.includes(`/v1/profiles/user_id%3A${userId}`) && !u.endsWith("/stream"))).toEqual([]);

  // The merge block, as the ESP renders it, inside the preview frame.
  const frame = page.frameLocator("#merge-preview iframe");
  await frame.locator("a").first().waitFor();
  expect(await frame.locator("body").textContent()).toContain("$");
  expect(await seriousViolations(page)).toEqual([]);
  await screenshot(page, "people");
  expect(problems).toEqual([]);

  // Looking is not reading: no pixel, and no link that a click, a middle-click or "open in new tab" could follow —
  // also with the product images loaded (their made-up host does not resolve here, so the frame logs errors).
  expect(await frame.locator("a[href]").count()).toBe(0);
  await page.check("#preview-images");
  await frame.locator("img[src]").first().waitFor({ state: "attached" });
  expect(await frame.locator("img[src*='/o/']").count()).toBe(0);
  await frame.locator("a").first().click({ button: "middle" });
  await frame.locator("a").first().click();
  expect(context.pages()).toHaveLength(1);
  expect(requests.filter((u) => /^\/(o|c)\//.test(new URL(u).pathname))).toEqual([]);
  const events = (await (
    await fetch(`${server.url}/v1/profiles/user_id:${userId}/events`, {
      headers: { authorization: `Bearer ${E2E_KEYS.apiKey}` },
    })
  ).json()) as { events: { name: string | null }[] };
  expect(events.events.map((e) => e.name)).not.toContain("Email Opened");
  expect(events.events.map((e) => e.name)).not.toContain("Email Link Clicked");
  await context.close();
}, 60_000);

it("Experiments: reads a test's results and stops it", () => experimentsPage(browser, server.url), 90_000);
it("Audiences: opens an audience, its size over time and members", () => audiencesPage(browser, server.url), 90_000);
it("Data quality: runs the checks and merges a duplicate pair", () => qualityPage(browser, server.url), 90_000);
it("Quarantine: corrects a refused message and replays it", () => quarantinePage(browser, server.url), 60_000);
it("Catalog: browses and searches the products", () => catalogPage(browser, server.url), 60_000);
it("Privacy: files an erasure and watches it finish", () => privacyPage(browser, server.url), 90_000);

it("fits every page in a phone's width, from the keyboard, with no serious accessibility violation", async () => {
  const phone = await signedInTab(browser, server.url, { width: 390, height: 844 });
  const pages: [string, string][] = [
    ["overview", "Overview"],
    ["people", "People"],
    ["experiments", "Experiments"],
    ["audiences", "Audiences"],
    ["quality", "Data quality"],
    ["quarantine", "Quarantine"],
    ["catalog", "Catalog"],
    ["privacy", "Privacy"],
  ];
  const wide: string[] = [];
  for (const [hash, heading] of pages) {
    await openPage(phone.page, hash, heading);
    await phone.page.waitForLoadState("networkidle");
    const width = (await phone.page.evaluate("document.documentElement.scrollWidth")) as number;
    if (width > 390) wide.push(`${hash}: ${width}px`);
    for (const v of await seriousViolations(phone.page)) wide.push(`${hash}: ${v}`);
  }
  // A simulated shopper, found by a prefix of their user id and opened from the list.
  await openPage(phone.page, "people", "People");
  await phone.page.fill("#people-query", "sim-");
  await phone.page.press("#people-query", "Enter");
  await phone.page.locator("#person a[href^='#/people/user_id']").first().click();
  await phone.page.waitForSelector("#person .live:has-text('Live')");
  await phone.page.frameLocator("#merge-preview iframe").locator("a").first().waitFor();
  const width = (await phone.page.evaluate("document.documentElement.scrollWidth")) as number;
  if (width > 390) wide.push(`a person: ${width}px`);
  for (const v of await seriousViolations(phone.page)) wide.push(`a person: ${v}`);
  expect(wide).toEqual([]);
  expect(phone.problems).toEqual([]);
  await phone.context.close();
}, 90_000);

it("shows the Overview's charts and numbers, accessible and within a phone's width", async () => {
  const tab = await signedInTab(browser, server.url);
  await tab.page.waitForSelector("#chart-events canvas");
  await tab.page.waitForSelector("#chart-merge canvas");
  // The gauges are sampled by the every-minute cron (npm start fires it at each minute's start): this test runs
  // last, so the first sample has usually been taken; the page redraws itself every 10 s until it shows.
  await tab.page.waitForSelector("#chart-lag[aria-label]:not([aria-label*='no data'])", { timeout: 75_000 });
  // The charts say what they show to someone who cannot see them.
  const label = (await tab.page.getAttribute("#chart-events", "aria-label")) ?? "";
  expect(label).toMatch(/Accepted: [\d,]+ in the last 60 minutes/);
  expect(label).not.toContain("Accepted: 0 in");
  expect(await seriousViolations(tab.page)).toEqual([]);
  await screenshot(tab.page, "overview");
  await tab.context.close();

  const phone = await signedInTab(browser, server.url, { width: 390, height: 844 });
  await phone.page.waitForSelector("#chart-events canvas");
  expect(await phone.page.evaluate("document.documentElement.scrollWidth")).toBeLessThanOrEqual(390);
  expect(await seriousViolations(phone.page)).toEqual([]);
  expect([...tab.problems, ...phone.problems]).toEqual([]);
  await phone.context.close();
}, 120_000);
