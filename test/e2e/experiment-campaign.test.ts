/**
 * A simulated e-mail campaign of 5,000 recipients on `npm start`'s runtime
 * (the deploy bundle in workerd): the ESP's merge call for every recipient
 * assigns them to the static or the personalized block, and each variant's
 * readers then behave at its true rates — personalized recommendations are
 * clicked by 6% of their recipients, the merchandiser's static list by 3%.
 * Opens go through the open pixel, clicks through the sealed links, orders
 * through the tracking API, and the results come back from the warehouse:
 * exactly the counts the simulation produced, a significant lift whose 95%
 * interval covers the true 3 points, and a split that matches the weights.
 *
 * Who clicks is drawn from a seeded stream per variant (test/seeded-random.ts),
 * consumed in recipient order. The assignment depends on the experiment's
 * random salt, so each run splits the recipients differently and only the
 * last few draws of each stream change with the split: the realized click
 * rates stay near 5.7% and 3.3%, and the interval's check is of those.
 */
import { afterAll, expect, it } from "vitest";
import { E2E_KEYS, startProductionServer } from "../../scripts/local-server.mjs";
import type { ExperimentResults } from "../../src/model/experiment-results";
import { uniforms } from "../seeded-random";
import { postBatch, waitFor } from "./sink-client";

const RECIPIENTS = 5_000;
const CLICK_RATE: Record<string, number> = { personalized: 0.06, static: 0.03 };
/** Readers who open without clicking (clicking proves an open as well). */
const OPEN_RATE = 0.2;
/** Of the clickers, the share who then buy. */
const BUY_RATE = 0.3;
/** Requests in flight at once, as an ESP's send workers would keep them. */
const CONCURRENCY = 24;

let server: Awaited<ReturnType<typeof startProductionServer>> | null = null;
afterAll(async () => {
  await server?.stop();
});

const auth = { authorization: `Bearer ${E2E_KEYS.apiKey}` };
/** A reader's mail client: crawlers' and link scanners' requests move nothing. */
const reader = {
  "user-agent":
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
};

/** Runs `work` for 0 … count−1 with at most `limit` in flight; results in index order. */
async function inPool<T>(count: number, limit: number, work: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      out[i] = await work(i);
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return out;
}

/**
 * Requests that died on the connection (no HTTP answer) and were sent again.
 * ESPs retry a connected-content call that fails (Braze's `:retry`), mail
 * clients fetch a pixel again, and every call here is idempotent — a repeated
 * merge call keeps the variant and counts the recipient once, a repeated open
 * or click counts once — so a retry must not change any count. On this
 * 2-core machine `npm start` drops a few connections now and then under this
 * load (docs/performance.md); the test says how many.
 */
let retried = 0;

async function fetchRetrying(url: string, init: RequestInit = {}): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetch(url, init);
    } catch (err) {
      if (attempt === 3) throw err;
      retried += 1;
    }
  }
}

interface Recipient {
  userId: string;
  variant: string;
  clickUrl: string;
  openUrl: string;
}

it("a 5,000-recipient campaign: personalized 6% vs static 3% clicks, counted exactly, a significant lift, no SRM", async () => {
  server = await startProductionServer();
  const base = server.url;
  const campaign = "spring-sale";
  const created = await fetch(`${base}/v1/experiments`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({
      id: "spring-recs",
      campaign,
      control: "static",
      variants: [
        { key: "static", weight: 1, strategy: "static", productIds: ["sku-001", "sku-002", "sku-003", "sku-004"] },
        { key: "personalized", weight: 1, strategy: "personalized" },
      ],
    }),
  });
  expect(created.status, await created.clone().text()).toBe(201);

  // The send: one merge call per recipient, as Braze's connected content makes it.
  const recipients = await inPool(RECIPIENTS, CONCURRENCY, async (i): Promise<Recipient> => {
    const userId = `reader-${i}`;
    const res = await fetchRetrying(`${base}/v1/merge/user_id:${userId}?campaign=${campaign}`, { headers: auth });
    if (res.status !== 200) throw new Error(`merge for ${userId} → ${res.status}: ${await res.text()}`);
    const body = (await res.json()) as {
      recommendations: { clickUrl: string }[];
      open_pixel_url: string | null;
      experiment?: { id: string; variant: string };
    };
    const first = body.recommendations[0];
    if (!body.experiment || !first || !body.open_pixel_url)
      throw new Error(`merge for ${userId}: ${JSON.stringify(body)}`);
    return { userId, variant: body.experiment.variant, clickUrl: first.clickUrl, openUrl: body.open_pixel_url };
  });

  // The readers: each variant's own seeded stream decides who clicks, opens and buys.
  const expected = new Map<
    string,
    { recipients: number; openers: number; clickers: number; conversions: number; revenue: number }
  >();
  const streams = new Map([
    ["personalized", uniforms(1 * 7919)],
    ["static", uniforms(2 * 7919)],
  ]);
  const requests: string[] = [];
  const orders: unknown[] = [];
  for (const [i, r] of recipients.entries()) {
    const random = streams.get(r.variant);
    const rate = CLICK_RATE[r.variant];
    if (!random || rate === undefined) throw new Error(`unexpected variant ${r.variant}`);
    const totals = expected.get(r.variant) ?? { recipients: 0, openers: 0, clickers: 0, conversions: 0, revenue: 0 };
    expected.set(r.variant, totals);
    totals.recipients += 1;
    const clicks = random() < rate;
    const opens = random() < OPEN_RATE;
    const buys = random() < BUY_RATE;
    if (clicks) {
      totals.clickers += 1;
      totals.openers += 1;
      requests.push(r.clickUrl);
      if (buys) {
        const revenue = 40 + (i % 5) * 10;
        totals.conversions += 1;
        totals.revenue += revenue;
        orders.push({
          type: "track",
          userId: r.userId,
          event: "Order Completed",
          messageId: `order-${r.userId}`,
          properties: { order_id: `o-${i}`, revenue, currency: "USD" },
        });
      }
    } else if (opens) {
      totals.openers += 1;
      requests.push(r.openUrl);
    }
  }
  // A reader's mail client fetches the pixel again on every view: a second open changes nothing.
  requests.push(...requests.slice(0, 50));

  await inPool(requests.length, CONCURRENCY, async (i) => {
    const url = new URL(requests[i] ?? "");
    const res = await fetchRetrying(`${base}${url.pathname}`, { redirect: "manual", headers: reader });
    await res.arrayBuffer();
    if (res.status !== 200 && res.status !== 302) throw new Error(`${url.pathname} → ${res.status}`);
  });
  for (let at = 0; at < orders.length; at += 100) {
    // Each order carries its messageId, so a batch sent again after a dropped connection counts once.
    let res: Response | null = null;
    for (let attempt = 1; res === null; attempt++) {
      try {
        res = await postBatch(base, orders.slice(at, at + 100));
      } catch (err) {
        if (attempt === 3) throw err;
        retried += 1;
      }
    }
    expect(res.status).toBe(200);
  }

  const want = [...expected.values()];
  const sum = (
    pick: (v: { recipients: number; openers: number; clickers: number; conversions: number }) => number,
    of: typeof want,
  ) => of.reduce((n, v) => n + pick(v), 0);
  const results = await waitFor(
    async () => {
      // A poll that loses its connection is sent again, like every request of this test.
      const res = await fetchRetrying(`${base}/v1/experiments/spring-recs/results`, { headers: auth });
      return (await res.json()) as ExperimentResults;
    },
    (r) =>
      sum((v) => v.recipients, r.variants) === RECIPIENTS &&
      sum((v) => v.clickers, r.variants) === sum((v) => v.clickers, want) &&
      sum((v) => v.openers, r.variants) === sum((v) => v.openers, want) &&
      sum((v) => v.conversions, r.variants) === sum((v) => v.conversions, want),
    "the warehouse to hold the campaign",
    180_000,
  );

  for (const [key, totals] of expected) {
    expect(results.variants.find((v) => v.key === key)).toMatchObject(totals);
  }
  const clicks = results.comparisons.find((c) => c.variant === "personalized" && c.metric === "clickRate");
  expect(clicks?.pValue).toBeLessThan(0.001);
  expect(clicks?.sequentialPValue).toBeLessThan(0.05);
  const [lo, hi] = clicks?.ci95 ?? [0, 0];
  expect(lo).toBeGreaterThan(0);
  expect(lo).toBeLessThan(0.03);
  expect(hi).toBeGreaterThan(0.03);
  expect(clicks?.probabilityToBeatControl).toBeGreaterThan(0.99);
  expect(results.srm.mismatch).toBe(false);
  expect(results.enoughData).toBe(true);
  // Dropped connections are the exception, not the rule.
  expect(retried, `requests sent again after a dropped connection: ${retried}`).toBeLessThan(100);
}, 600_000);
