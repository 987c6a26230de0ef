/**
 * The console's Experiments and Audiences pages in Chromium, each over data
 * the test seeds through the public API: a small experiment whose results
 * the page shows as the API counts them, then stopped from the page; an
 * audience two people enter, opened from the list, with its size, members,
 * transitions and a destination that took both entries.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser, Page } from "playwright-core";
import { expect } from "vitest";
import { E2E_KEYS } from "../../../scripts/local-server.mjs";
import type { ExperimentResults } from "../../../src/model/experiment-results";
import { postBatch, waitFor } from "../sink-client";
import { openPage, screenshot, seriousViolations, signedInTab } from "./harness";

const auth = { authorization: `Bearer ${E2E_KEYS.apiKey}` };
/** A reader's mail client: crawlers' and link scanners' opens and clicks move nothing. */
const reader = {
  "user-agent":
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
};
const suffix = () => crypto.randomUUID().slice(0, 8);

async function apiJson<T>(url: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(url, { ...init, headers: { ...auth, "content-type": "application/json", ...init.headers } });
  return { status: res.status, body: (await res.json()) as T };
}

/** The cells of each body row of the table captioned `caption`, as text. */
async function rowsOf(page: Page, caption: string): Promise<string[][]> {
  return page
    .locator(`table:has(caption:text-is('${caption}')) tbody tr`)
    .evaluateAll((rows) => rows.map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent ?? "")));
}

/**
 * Six recipients of a two-variant experiment (merge calls), two opens, two
 * clicks and an order; the page shows each variant's recipients, clickers
 * and conversions as the results API counts them, a lift chart per metric,
 * and — after Stop, confirmed — the experiment stopped; a new run of it
 * then starts under the next id.
 */
export async function experimentsPage(browser: Browser, url: string): Promise<void> {
  const id = `console-${suffix()}`;
  const created = await apiJson(`${url}/v1/experiments`, {
    method: "POST",
    body: JSON.stringify({
      id,
      name: "Console: static vs personalized",
      control: "static",
      variants: [
        { key: "static", weight: 1, strategy: "static", productIds: ["sku-001", "sku-002"] },
        { key: "personalized", weight: 1, strategy: "personalized" },
      ],
    }),
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);

  const recipients = await Promise.all(
    Array.from({ length: 6 }, async (_, i) => {
      const userId = `${id}-reader-${i}`;
      const merge = await apiJson<{
        recommendations: { clickUrl: string }[];
        open_pixel_url: string;
        experiment: { variant: string };
      }>(`${url}/v1/merge/user_id:${userId}?experiment=${id}`);
      expect(merge.status).toBe(200);
      const click = merge.body.recommendations[0]?.clickUrl ?? "";
      return { userId, open: merge.body.open_pixel_url, click };
    }),
  );
  // Readers 0 and 1 open, 2 and 3 click (a click is an open as well), 3 buys.
  const visits = [recipients[0]?.open, recipients[1]?.open, recipients[2]?.click, recipients[3]?.click];
  for (const link of visits) {
    const res = await fetch(`${url}${new URL(link ?? "").pathname}`, { headers: reader, redirect: "manual" });
    await res.arrayBuffer();
    expect([200, 302]).toContain(res.status);
  }
  const order = await postBatch(url, [
    {
      type: "track",
      event: "Order Completed",
      userId: recipients[3]?.userId,
      properties: { order_id: `${id}-o1`, revenue: 50, currency: "USD" },
    },
  ]);
  expect(order.status).toBe(200);
  const sum = (r: ExperimentResults, pick: (v: ExperimentResults["variants"][number]) => number) =>
    r.variants.reduce((n, v) => n + pick(v), 0);
  const results = await waitFor(
    async () => (await apiJson<ExperimentResults>(`${url}/v1/experiments/${id}/results`)).body,
    (r) =>
      sum(r, (v) => v.recipients) === 6 &&
      sum(r, (v) => v.openers) === 4 &&
      sum(r, (v) => v.clickers) === 2 &&
      sum(r, (v) => v.conversions) === 1,
    "the experiment's results in the warehouse",
    30_000,
  );

  const tab = await signedInTab(browser, url);
  const { page } = tab;
  await openPage(page, "experiments", "Experiments");
  const row = page.locator(`tr:has(a[href='#/experiments/${id}'])`);
  await row.waitFor();
  expect(await row.locator(".badge").textContent()).toBe("running");
  // Opened from the keyboard, like the navigation.
  await row.locator("a").focus();
  await page.keyboard.press("Enter");
  await page.waitForSelector(`h2:text-is('Experiment ${id}')`);
  await page.waitForSelector("table:has(caption:text-is('Variants')) tbody tr");

  // Each variant's numbers as the results API counts them.
  const shown = await rowsOf(page, "Variants");
  expect(shown.map((cells) => cells[0])).toEqual(
    results.variants.map((v) => (v.key === results.control ? `${v.key} (control)` : v.key)),
  );
  for (const [i, v] of results.variants.entries()) {
    expect(shown[i]?.slice(2, 6)).toEqual([v.recipients, v.openers, v.clickers, v.conversions].map(String));
  }
  // A lift chart per metric with its text alternative, and the verdict: too little data to call.
  const metrics = new Set(results.comparisons.map((c) => c.metric));
  expect(await page.locator("svg.forest[role='img']").count()).toBe(metrics.size);
  if (results.comparisons.length > 0) {
    expect(await page.locator("svg.forest").first().getAttribute("aria-label")).toContain("personalized");
    expect(await page.textContent("main")).toContain("not enough data yet");
  }

  // Stop, confirmed: the status line says so, the badge turns, the API agrees.
  await page.focus("#experiment-stop");
  await page.keyboard.press("Enter");
  await page.waitForSelector("#experiment-stop-confirm:focus");
  await page.keyboard.press("Enter");
  await page.waitForSelector("#experiment-status:has-text('Stopped')");
  await page.waitForSelector("dl.facts .badge:text-is('stopped')");
  expect(await page.locator("#experiment-stop").count()).toBe(0);
  const after = await apiJson<{ status: string; variants: unknown[] }>(`${url}/v1/experiments/${id}`);
  expect(after.body.status).toBe("stopped");
  await page.waitForSelector(".as-of:has-text('Frozen')");

  expect(await seriousViolations(page)).toEqual([]);
  await screenshot(page, "experiments");

  // A stopped experiment stays stopped; a new run under a new id starts with the same variants.
  await page.focus("#experiment-rerun-id");
  await page.keyboard.press("Enter");
  await page.waitForSelector(`h2:text-is('Experiment ${id}-2')`).catch(async (err) => {
    const said = await page.textContent("#experiment-status").catch(() => null);
    const focused = await page.evaluate("document.activeElement?.id ?? null");
    throw new Error(`the new run did not open (status line: ${JSON.stringify(said)}, focus on #${focused})`, {
      cause: err,
    });
  });
  await page.waitForSelector("dl.facts .badge:text-is('running')");
  const rerun = await apiJson<{ status: string; variants: unknown[] }>(`${url}/v1/experiments/${id}-2`);
  expect(rerun.body).toMatchObject({ status: "running", variants: after.body.variants });
  expect(tab.problems).toEqual([]);
  await tab.context.close();
}

/**
 * An audience of people who viewed a product of one (made-up) category in
 * the last week, with a webhook destination the test listens on; two people
 * enter it. Opened from the list: its size, both members, their entries in
 * the recent transitions, the size chart, and the destination's URL (never
 * its secret) with both entries delivered.
 */
export async function audiencesPage(browser: Browser, url: string): Promise<void> {
  const received: string[] = [];
  const hook = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => {
      received.push(body);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, "127.0.0.1", resolve));
  try {
    const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/audience-hook`;
    const key = `console-${suffix()}`;
    const category = `console-${suffix()}`;
    const secret = `console-secret-${crypto.randomUUID()}`;
    const put = await apiJson(`${url}/v1/audiences/${key}`, {
      method: "PUT",
      body: JSON.stringify({
        name: "Console: recent viewers",
        rule: { event: "Product Viewed", within: "7d", where: { category } },
        destinations: [{ type: "webhook", url: hookUrl, secret }],
      }),
    });
    expect(put.status, JSON.stringify(put.body)).toBe(201);
    const people = [`${key}-a`, `${key}-b`];
    const sent = await postBatch(
      url,
      people.map((userId) => ({ type: "track", event: "Product Viewed", userId, properties: { category } })),
    );
    expect(sent.status).toBe(200);
    await waitFor(
      async () => (await apiJson<{ size: number }>(`${url}/v1/audiences/${key}`)).body,
      (a) => a.size === 2,
      "both people in the audience",
      30_000,
    );
    await waitFor(
      async () => (await apiJson<{ delivered: number }>(`${url}/v1/audiences/${key}/deliveries`)).body,
      (d) => d.delivered === 2,
      "both entries delivered to the webhook",
      30_000,
    );
    expect(received).toHaveLength(2);

    const tab = await signedInTab(browser, url);
    const { page } = tab;
    await openPage(page, "audiences", "Audiences");
    const row = page.locator(`tr:has(a[href='#/audiences/${key}'])`);
    await row.waitFor();
    expect(await row.locator("td").nth(2).textContent()).toBe("2");
    await row.locator("a").focus();
    await page.keyboard.press("Enter");
    await page.waitForSelector("dd.audience-size:text-is('2')");
    // The members, the recent transitions, the rule and the chart with its text alternative.
    for (const userId of people) {
      await page.waitForSelector(`section:has(h2:text-is('Members')) a:text-is('user_id:${userId}')`);
      await page.waitForSelector(`section:has(h2:text-is('Recent transitions')) tr:has-text('user_id:${userId}')`);
    }
    expect(await page.textContent("pre.rule")).toContain(category);
    await page.waitForSelector("#audience-size-chart canvas");
    expect(await page.getAttribute("#audience-size-chart", "aria-label")).toContain("2 members now");
    // The destination by its URL, both entries delivered, and its secret nowhere on the page.
    await page.waitForSelector("table:has(caption:text-is('Destinations')) tbody tr");
    const destinations = await rowsOf(page, "Destinations");
    expect(destinations).toEqual([[hookUrl, "webhook", "0", "—"]]);
    expect(await page.textContent("main")).toContain("2 transitions delivered");
    expect(await page.content()).not.toContain(secret);

    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, "audiences");
    expect(tab.problems).toEqual([]);
    await tab.context.close();
  } finally {
    await new Promise((resolve) => hook.close(resolve));
  }
}
