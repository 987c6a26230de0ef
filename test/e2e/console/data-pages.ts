/**
 * The console's data pages in Chromium on `npm start`: Data quality (run the
 * checks, merge a duplicate pair), Quarantine (correct a refused message and
 * replay it), Catalog (search the demo catalog, open a product) and Privacy
 * (file an erasure, watch it finish). Each seeds what it needs through the
 * public API, acts from the page as an operator would, checks what the page
 * shows and, through the API, what the action did; then scans the page with
 * axe-core, takes its screenshot and expects no console error.
 */
import type { Browser, Page } from "playwright-core";
import { expect } from "vitest";
import { E2E_KEYS } from "../../../scripts/local-server.mjs";
import { postBatch, waitFor } from "../sink-client";
import { openPage, screenshot, seriousViolations, signedInTab } from "./harness";

const auth = { authorization: `Bearer ${E2E_KEYS.apiKey}` };

async function apiGet<T>(base: string, path: string): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}${path}`, { headers: auth });
  return { status: res.status, body: (await res.json()) as T };
}

async function apiSend(base: string, method: string, path: string, body?: unknown): Promise<number> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...auth, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  await res.body?.cancel();
  return res.status;
}

const tag = () => crypto.randomUUID().slice(0, 8);

/** The page's checks, and the tab's problems, at the end of every page test. */
async function finish(page: Page, name: string, problems: string[]) {
  expect(await seriousViolations(page)).toEqual([]);
  await screenshot(page, name);
  expect(problems).toEqual([]);
}

interface DuplicatePair {
  a: string;
  b: string;
  evidence: { kind: string }[];
}

/**
 * Two sign-ups of one woman (one Gmail address but for a dot, the name typed
 * in lower case once) show as a duplicate pair, and two events that break a
 * tracking plan (flagged, not blocked: nothing else the server receives is
 * touched) are counted; the checks run from the page and their results
 * appear; the pair is merged from the page after its confirmation step, and
 * the second id reads the first person from then on. The plan is removed at
 * the end.
 */
export async function qualityPage(browser: Browser, url: string): Promise<void> {
  const t = tag();
  const [first, second] = [`dq-${t}-1`, `dq-${t}-2`];
  const [a, b] = [`user_id:${first}`, `user_id:${second}`];
  const planned = `Console Plan Check ${t}`;
  const plan = {
    events: { [planned]: { type: "object", required: ["sku"], properties: { sku: { type: "string" } } } },
    unplanned: "allow",
    violations: "flag",
  };
  expect(await apiSend(url, "PUT", "/v1/tracking-plan", plan)).toBe(200);
  const sent = await postBatch(url, [
    { type: "identify", userId: first, traits: { name: "Rosa Quintero", email: `rosa.quintero.${t}@gmail.com` } },
    { type: "identify", userId: second, traits: { name: "rosa quintero", email: `rosaquintero${t}@gmail.com` } },
    { type: "track", event: planned, userId: first, properties: {} },
    { type: "track", event: planned, userId: second, properties: { sku: 42 } },
  ]);
  expect(sent.status).toBe(200);
  await waitFor(
    () => apiGet<{ items: DuplicatePair[] }>(url, "/v1/quality/duplicates?limit=1000"),
    (r) => r.body.items.some((p) => [p.a, p.b].sort().join() === [a, b].sort().join()),
    "the two sign-ups found as a duplicate pair",
    20_000,
  );
  await waitFor(
    () =>
      apiGet<{ counts: { event: string; count: number }[] }>(
        url,
        `/v1/tracking-plan/violations?event=${encodeURIComponent(planned)}`,
      ),
    (r) => r.body.counts.reduce((n, c) => n + c.count, 0) === 2,
    "the two violations counted",
    10_000,
  );

  const { context, page, problems } = await signedInTab(browser, url);
  await openPage(page, "quality", "Data quality");
  // The plan's violations, counted by property and kind.
  const missing = page.locator(`#violations tr:has(td:text-is("${planned}")):has(td:text-is("missing_required"))`);
  await missing.waitFor();
  expect((await missing.locator("td").allTextContents()).slice(0, 4)).toEqual([
    planned,
    "sku",
    "missing_required",
    "1",
  ]);
  const wrongType = page.locator(`#violations tr:has(td:text-is("${planned}")):has(td:text-is("wrong_type"))`);
  expect((await wrongType.locator("td").allTextContents()).slice(0, 4)).toEqual([planned, "sku", "wrong_type", "1"]);
  const row = page.locator(`#duplicates tr:has(td:text-is("${a}")):has(td:text-is("${b}"))`);
  await row.waitFor();
  expect(await row.textContent()).toContain("email:");

  // Run the checks from the page: the run is followed until it finishes, then its checks are shown.
  await page.click("#run-checks");
  await page.waitForSelector("#quality-run-status:has-text('finished')", { timeout: 20_000 });
  const duplicatesCheck = page.locator("#quality-checks tr:has(td:text-is('duplicates.people'))");
  await duplicatesCheck.waitFor();
  expect(await duplicatesCheck.textContent()).toMatch(/[1-9]\d* pairs among the \d+ newest profiles/);
  expect(await page.locator("#quality-checks tbody tr").count()).toBeGreaterThanOrEqual(9);

  // Merge the second into the first, after the confirmation step inside the page.
  await row.locator("button").click();
  await page.waitForSelector("#merge-confirm:has-text('cannot be undone')");
  // The page as an operator sees it at its fullest: a run's checks, the plan's violations, a pair about to be merged.
  expect(await seriousViolations(page)).toEqual([]);
  await screenshot(page, "quality");
  await page.selectOption("#merge-into", a);
  await page.click("#merge-confirm-button");
  await page.waitForSelector(`#merge-status:has-text('Merged ${b} into ${a}')`);
  await page.waitForSelector("#merge-confirm", { state: "detached" });
  expect(await row.count()).toBe(0);
  const merged = await apiGet<{ userId: string }>(url, `/v1/profiles/${b}`);
  expect(merged.body.userId).toBe(first);

  expect(await seriousViolations(page)).toEqual([]);
  expect(problems).toEqual([]);
  await context.close();
  expect(await apiSend(url, "DELETE", "/v1/tracking-plan")).toBe(204);
}

interface QuarantineItem {
  id: number;
  reason: string;
  payload: Record<string, unknown>;
}

/**
 * A track without its event name is quarantined; found on the page by its
 * reason, it is first "corrected" into invalid JSON (refused by the page,
 * nothing sent), then given its name and replayed: the page says it was
 * replayed, the open list no longer holds it, and the event reached the person.
 */
export async function quarantinePage(browser: Browser, url: string): Promise<void> {
  const userId = `dq-replay-${tag()}`;
  const sent = await postBatch(url, [
    { type: "track", userId, properties: { product_id: "sku-031", category: "Watches" } },
  ]);
  expect(sent.status).toBe(200);
  const listed = await waitFor(
    () => apiGet<{ items: QuarantineItem[] }>(url, "/v1/quarantine?reason=invalid_fields&limit=500"),
    (r) => r.body.items.some((i) => i.payload.userId === userId),
    "the track without an event name in the quarantine",
    20_000,
  );
  const item = listed.body.items.find((i) => i.payload.userId === userId) as QuarantineItem;

  const { context, page, problems } = await signedInTab(browser, url);
  await openPage(page, "quarantine", "Quarantine");
  await page.waitForSelector("#page table td:has-text('invalid_fields')");
  await page.selectOption("#quarantine-reason", "invalid_fields");
  const row = page.locator(`#quarantine-list tr:has(td:text-is("${item.id}"))`);
  await row.waitFor();
  await row.locator("button").click();
  const editor = page.locator("#quarantine-payload");
  await editor.waitFor();
  expect(JSON.parse(await editor.inputValue())).toEqual(item.payload);

  // Broken JSON is refused by the page: nothing is sent, the message stays open.
  await editor.fill('{ "type": "track", ');
  await page.click("#quarantine-replay");
  await page.waitForSelector("#replay-status:has-text('not valid JSON')");
  const stillOpen = await apiGet<{ items: QuarantineItem[] }>(url, "/v1/quarantine?reason=invalid_fields&limit=500");
  expect(stillOpen.body.items.some((i) => i.id === item.id)).toBe(true);

  await editor.fill(JSON.stringify({ ...item.payload, event: "Product Viewed" }, null, 2));
  await page.click("#quarantine-replay");
  await page.waitForSelector(`#replay-status:has-text('Replayed: accepted as messageId replay-${item.id}')`);
  await row.waitFor({ state: "detached" });
  const events = await waitFor(
    () =>
      apiGet<{ events: { name: string | null; messageId: string }[] }>(url, `/v1/profiles/user_id:${userId}/events`),
    (r) => r.status === 200 && r.body.events.some((e) => e.messageId === `replay-${item.id}`),
    "the replayed event on the person",
    10_000,
  );
  expect(events.body.events.find((e) => e.messageId === `replay-${item.id}`)?.name).toBe("Product Viewed");

  await finish(page, "quarantine", problems);
  await context.close();
}

/** The demo catalog `npm start` loads is listed; a search narrows it; a product opens in full. */
export async function catalogPage(browser: Browser, url: string): Promise<void> {
  const { context, page, problems } = await signedInTab(browser, url);
  await openPage(page, "catalog", "Catalog");
  await page.waitForSelector("#catalog-list td:has-text('Northpeak Road Runner')");
  expect(await page.locator("#catalog-list tbody tr").count()).toBeGreaterThanOrEqual(31);

  // By category, in another case: the three watches.
  await page.fill("#catalog-query", "WATCHES");
  await page.press("#catalog-query", "Enter");
  await page.waitForSelector("#catalog-status:has-text('3 products match')");
  expect(await page.locator("#catalog-list tbody tr td:first-child").allTextContents()).toEqual([
    "sku-029",
    "sku-030",
    "sku-031",
  ]);
  // By title.
  await page.fill("#catalog-query", "trail watch");
  await page.press("#catalog-query", "Enter");
  await page.waitForSelector("#catalog-status:has-text('1 product matches')");
  await page.click("#catalog-list a:text-is('sku-031')");
  await page.waitForSelector("#product h2:has-text('Fleetfoot Trail Watch Pro')");
  const detail = await page.textContent("#product");
  expect(detail).toContain("46.65 USD");
  expect(detail).toContain("Fleetfoot");
  expect(detail).toContain("Watches");
  // The list and its search stay as they were beside the product.
  expect(await page.inputValue("#catalog-query")).toBe("trail watch");

  await finish(page, "catalog", problems);
  await context.close();
}

/**
 * A person is erased from the page: the regulation is reviewed (erasure is
 * irreversible, the page says so), filed, and followed until every subject
 * is finished; the person's profile is gone from the API.
 */
export async function privacyPage(browser: Browser, url: string): Promise<void> {
  const userId = `dq-erase-${tag()}`;
  const sent = await postBatch(url, [
    { type: "identify", userId, traits: { email: `${userId}@example.com`, name: "Erin Erased" } },
    { type: "track", event: "Product Viewed", userId, properties: { product_id: "sku-014", category: "Yoga" } },
  ]);
  expect(sent.status).toBe(200);
  expect((await apiGet(url, `/v1/profiles/user_id:${userId}`)).status).toBe(200);

  const { context, page, problems } = await signedInTab(browser, url);
  await openPage(page, "privacy", "Privacy");
  await page.selectOption("#regulation-type", "SUPPRESS_WITH_DELETE");
  await page.selectOption("#regulation-subject-type", "USER_ID");
  await page.fill("#regulation-subjects", userId);
  await page.click("#regulation-form button[type=submit]");
  await page.waitForSelector("#regulation-confirm:has-text('cannot be undone')");
  expect(await page.textContent("#regulation-confirm")).toContain(userId);
  await page.click("#regulation-file");
  await page.waitForURL(/#\/privacy\/reg_[0-9a-f]{32}$/);
  const regulationId = decodeURIComponent(page.url().split("#/privacy/")[1] ?? "");
  await page.waitForSelector("#regulation .badge:text-is('finished')", { timeout: 20_000 });
  expect(await page.textContent("#regulation")).toMatch(/1 finished/);
  expect(await page.textContent("#regulation")).toMatch(/[1-9]\d* actors? wiped/);
  await page.waitForSelector(`#regulations tr:has(a:text-is("${regulationId}")) .badge:text-is('finished')`);
  expect((await apiGet(url, `/v1/profiles/user_id:${userId}`)).status).toBe(404);

  await finish(page, "privacy", problems);
  await context.close();
}
