#!/usr/bin/env node
/**
 * `npm run simulate`: a living console on a local service within a minute.
 * Shoppers browse the demo catalog through Segment's own Node SDK
 * (`@segment/analytics-node`, pointed at the service), sign in, add to cart
 * and buy; an e-mail campaign then asks the merge tag for each known shopper
 * (as an ESP would at send time), and some of them open the e-mail and click
 * a recommendation — fetching the sealed pixel and link like a mail client.
 * A few malformed messages land in the quarantine. It also defines, once, an
 * experiment on the campaign, two audiences and a computed trait, so every
 * console page has something to show.
 *
 * Bounded: it stops after SIMULATE_SECONDS (default 60, at most 600) or
 * SIMULATE_SHOPPERS shoppers (default 150, at most 2,000), whichever comes
 * first. Local only: EDGE_PROFILES_URL (default http://127.0.0.1:$PORT, 8787)
 * must be a loopback address; the keys come from `.dev.vars`, as
 * `npm run dev` and `npm start` wrote them.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Analytics } from "@segment/analytics-node";
import { keysOf, readDevVars, root } from "./local-setup.mjs";

const base = (process.env.EDGE_PROFILES_URL ?? `http://127.0.0.1:${process.env.PORT ?? 8787}`).replace(/\/+$/, "");
const host = new URL(base).hostname;
if (!["127.0.0.1", "localhost", "[::1]", "::1"].includes(host)) {
  console.error(`simulate sends made-up people to ${base}: it runs against a local service only (127.0.0.1)`);
  process.exit(2);
}
const bounded = (raw, fallback, max) => Math.min(max, Math.max(1, Number(raw ?? fallback) || fallback));
const SECONDS = bounded(process.env.SIMULATE_SECONDS, 60, 600);
const SHOPPERS = bounded(process.env.SIMULATE_SHOPPERS, 150, 2_000);
const keys = keysOf(readDevVars());
const writeKey = process.env.WRITE_KEY ?? keys.writeKey;
const apiKey = process.env.API_KEY ?? keys.apiKey;
const catalog = JSON.parse(readFileSync(join(root, "scripts", "demo-catalog.json"), "utf8")).products;
const categories = [...new Set(catalog.flatMap((p) => p.categories))];
// A mail client fetching images and following links (a crawler's would be ignored by the service).
const MAIL_CLIENT = {
  "user-agent":
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
};
const CAMPAIGN = "weekly-picks";
const FIRST_NAMES = ["Jane", "Omar", "Mei", "Lars", "Ana", "Kofi", "Priya", "Tom", "Sofia", "Yuki", "Ines", "Max"];
const LAST_NAMES = ["Doe", "Haddad", "Chen", "Berg", "Silva", "Mensah", "Rao", "Baker", "Rossi", "Sato"];

let seed = Number(process.env.SIMULATE_SEED ?? Date.now()) % 2_147_483_647 || 1;
/** A small seeded generator (Park–Miller), so a run can be repeated with SIMULATE_SEED. */
const random = () => {
  seed = (seed * 48_271) % 2_147_483_647;
  return (seed - 1) / 2_147_483_646;
};
const pick = (list) => list[Math.floor(random() * list.length)];
const chance = (p) => random() < p;

const api = (method, path, body) =>
  fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

async function ensureDefinitions() {
  const defined = [
    await api("PUT", "/v1/computed-traits/orders_30d", {
      aggregation: "count",
      event: "Order Completed",
      window: "30d",
    }),
    await api("PUT", "/v1/audiences/runners", {
      name: "Into running shoes",
      rule: { affinity: "category:running-shoes", op: "gte", value: 2 },
    }),
    await api("PUT", "/v1/audiences/recent-buyers", {
      name: "Bought this week",
      rule: { event: "Order Completed", within: "7d" },
    }),
  ];
  for (const res of defined) if (!res.ok) throw new Error(`${res.url}: ${res.status} ${await res.text()}`);
  const experiment = await api("POST", "/v1/experiments", {
    id: "weekly-picks-recs",
    name: "Weekly picks: personalized vs trending",
    campaign: CAMPAIGN,
    control: "trending",
    variants: [
      { key: "trending", weight: 1, strategy: "trending" },
      { key: "personalized", weight: 1, strategy: "personalized" },
    ],
  });
  // 409: it exists from an earlier run, and keeps collecting.
  if (!experiment.ok && experiment.status !== 409) throw new Error(`experiment: ${experiment.status}`);
}

const productsIn = (category) => catalog.filter((p) => p.categories.includes(category));
const lineOf = (p) => ({ product_id: p.id, name: p.title, price: p.price, category: p.categories[0], brand: p.brand });
/** An order of one product (Segment e-commerce v2 `Order Completed`). */
const orderOf = (p) => ({
  order_id: `sim-${crypto.randomUUID()}`,
  revenue: p.price,
  currency: "USD",
  products: [lineOf(p)],
});

/** One shopper's visit, through the SDK; returns the user id when they signed in. */
function visit(analytics, n) {
  const anonymousId = `sim-anon-${crypto.randomUUID()}`;
  const likes = [pick(categories), pick(categories)];
  const known = chance(0.65);
  const first = pick(FIRST_NAMES);
  const last = pick(LAST_NAMES);
  const userId = known ? `sim-${first.toLowerCase()}-${n}-${Math.floor(random() * 1e6)}` : null;
  const who = userId ? { userId, anonymousId } : { anonymousId };
  analytics.page({ ...who, name: "Home", properties: { path: "/", url: "https://shop.example.com/" } });
  const viewed = [];
  for (let i = 0, views = 2 + Math.floor(random() * 7); i < views; i++) {
    const p = pick(productsIn(chance(0.8) ? pick(likes) : pick(categories)));
    viewed.push(p);
    analytics.track({ ...who, event: "Product Viewed", properties: lineOf(p) });
  }
  if (userId) {
    analytics.identify({
      userId,
      anonymousId,
      traits: { email: `${userId}@example.com`, name: `${first} ${last}`, plan: pick(["free", "plus", "pro"]) },
    });
  }
  if (chance(0.35)) {
    const p = pick(viewed);
    analytics.track({ ...who, event: "Product Added", properties: { ...lineOf(p), quantity: 1 } });
    if (chance(0.45)) {
      analytics.track({ ...who, event: "Order Completed", properties: orderOf(p) });
    }
  }
  // Now and then a message the service refuses: kept in the quarantine with its reason.
  if (chance(0.04)) analytics.track({ ...who, event: "", properties: { note: "an event without a name" } });
  return userId;
}

/** The campaign: the merge tag per recipient at send time, then opens and clicks as mail clients make them. */
async function sendCampaign(userIds, tally) {
  for (const userId of userIds) {
    const res = await api("GET", `/v1/merge/user_id:${encodeURIComponent(userId)}?campaign=${CAMPAIGN}`);
    if (!res.ok) continue;
    tally.recipients += 1;
    const merge = await res.json();
    if (!merge.open_pixel_url || !chance(0.55)) continue;
    await fetch(merge.open_pixel_url, { headers: MAIL_CLIENT });
    tally.opens += 1;
    const link = pick(merge.recommendations);
    if (!link || !chance(0.4)) continue;
    await fetch(link.clickUrl, { headers: MAIL_CLIENT, redirect: "manual" });
    tally.clicks += 1;
    tally.clickers.push({ userId, link });
  }
}

async function main() {
  const health = await fetch(`${base}/healthz`).catch(() => null);
  if (!health?.ok) {
    console.error(`nothing answers at ${base}: start the service first (npm start, or npm run dev)`);
    process.exit(1);
  }
  await ensureDefinitions();
  const analytics = new Analytics({ writeKey, host: base, flushAt: 50, flushInterval: 1_000, maxRetries: 3 });
  const errors = [];
  analytics.on("error", (err) => errors.push(err));
  const deadline = Date.now() + SECONDS * 1000;
  const tally = { shoppers: 0, recipients: 0, opens: 0, clicks: 0, orders: 0, clickers: [] };
  console.log(`simulating up to ${SHOPPERS} shoppers for up to ${SECONDS} s against ${base}`);
  while (tally.shoppers < SHOPPERS && Date.now() < deadline) {
    // A wave of shoppers, then the campaign to the ones who signed in, then the next wave.
    const wave = [];
    for (let i = 0; i < 10 && tally.shoppers < SHOPPERS; i++) {
      const userId = visit(analytics, tally.shoppers);
      tally.shoppers += 1;
      if (userId) wave.push(userId);
    }
    await analytics.flush?.();
    await new Promise((r) => setTimeout(r, 1_500));
    await sendCampaign(wave, tally);
    // A click that leads to a purchase, the conversion the experiment counts.
    for (const { userId, link } of tally.clickers.splice(0)) {
      if (!chance(0.5)) continue;
      const p = catalog.find((x) => x.id === link.productId) ?? pick(catalog);
      analytics.track({ userId, event: "Order Completed", properties: orderOf(p) });
      tally.orders += 1;
    }
    const left = Math.ceil((deadline - Date.now()) / 1000);
    console.log(
      `${tally.shoppers} shoppers · ${tally.recipients} e-mails · ${tally.opens} opens · ${tally.clicks} clicks · ${tally.orders} orders after a click · ${Math.max(0, left)} s left`,
    );
  }
  await analytics.closeAndFlush({ timeout: 20_000 });
  if (errors.length > 0) console.warn(`the SDK reported ${errors.length} delivery errors; first: ${errors[0]}`);
  console.log(`done. Open ${base}/ and sign in with an API key (npm start and npm run dev print the local one).`);
}

await main();
