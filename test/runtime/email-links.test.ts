/**
 * The e-mail loop under replay, crawlers and scanners: links are opaque and
 * canonical, a link counts once per person per window however often it is
 * followed, crawlers and link scanners move nothing, and one person cannot
 * lift a product to the top of what everyone else is shown.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { invalidateCatalog, popularityTally } from "../../src/catalog/cache";
import { addPopularity, warehouseDb } from "../../src/catalog/store";
import type { EventView, ProfileView } from "../../src/model/views";
import { handle, productFixture, putCatalog, read, readJson, sendBatch, uid } from "./helpers";

const BROWSER =
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15";
const GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

interface Merge {
  recommendations: { productId: string; url: string; clickUrl: string }[];
  open_pixel_url: string;
}

/** A catalog of its own, a person who viewed its first product, and their merge answer. */
async function personWithEmail(limit = 2, traits: Record<string, unknown> = {}) {
  const tag = uid("l").slice(0, 12);
  const category = `Cat ${tag}`;
  const products = Array.from({ length: 4 }, (_, i) =>
    productFixture(`${tag}-${i}`, { categories: [category], title: `Title ${tag}-${i}` }),
  );
  expect((await putCatalog(products)).status).toBe(200);
  const userId = uid("person");
  await sendBatch([
    { type: "identify", userId, traits },
    { type: "track", userId, event: "Product Viewed", properties: { product_id: `${tag}-0`, category } },
  ]);
  const merge = await readJson<Merge>(`/v1/merge/user_id:${userId}?campaign=winter&limit=${limit}`);
  return { tag, userId, merge };
}

function follow(url: string, userAgent = BROWSER) {
  return handle(new URL(url).pathname, { redirect: "manual", headers: { "user-agent": userAgent } });
}

async function eventsNamed(userId: string, name: string): Promise<EventView[]> {
  const { events } = await readJson<{ events: EventView[] }>(`/v1/profiles/user_id:${userId}/events?limit=200`);
  return events.filter((e) => e.name === name);
}

async function affinity(userId: string, dimension: string): Promise<number | undefined> {
  const profile = await readJson<ProfileView>(`/v1/profiles/user_id:${userId}`);
  return profile.affinities.find((a) => a.dimension === dimension)?.score;
}

/** Writes what ingestion tallied to D1 now (it would within seconds) and returns each product's popularity. */
async function popularity(): Promise<Map<string, number>> {
  await addPopularity(warehouseDb(env.WAREHOUSE), popularityTally.drain());
  invalidateCatalog();
  const { results } = await env.WAREHOUSE.prepare("SELECT product_id, score FROM product_popularity").all<{
    product_id: string;
    score: number;
  }>();
  return new Map(results.map((r) => [r.product_id, r.score]));
}

describe("a link followed again and again", () => {
  it("redirects every time and counts one click: 100 replays raise the product's affinity by one click", async () => {
    const { userId, merge } = await personWithEmail();
    const pick = merge.recommendations[1] as Merge["recommendations"][number];
    for (let i = 0; i < 100; i++) {
      const res = await follow(pick.clickUrl);
      expect(res.status).toBe(302);
      expect(res.headers.get("location")).toBe(pick.url);
    }
    const clicks = await eventsNamed(userId, "Email Link Clicked");
    expect(clicks).toHaveLength(1);
    expect(clicks[0]?.properties).toMatchObject({ product_id: pick.productId, campaign: "winter" });
    expect(clicks[0]?.context.bot).toBeUndefined();
    // email_click weighs 2: one click, not a hundred.
    expect(await affinity(userId, `product:${pick.productId}`)).toBe(2);
    expect((await popularity()).get(pick.productId)).toBeGreaterThan(0);
  });

  it("from a crawler redirects every time, is recorded once as a bot's and moves no affinity or popularity", async () => {
    const { userId, merge } = await personWithEmail();
    const pick = merge.recommendations[1] as Merge["recommendations"][number];
    await popularity();
    for (let i = 0; i < 100; i++) {
      const res = await follow(pick.clickUrl, GOOGLEBOT);
      expect(res.status).toBe(302);
      expect(res.headers.get("location")).toBe(pick.url);
    }
    const clicks = await eventsNamed(userId, "Email Link Clicked");
    expect(clicks).toHaveLength(1);
    expect(clicks[0]?.context).toMatchObject({ bot: true, device: { type: "bot" } });
    expect(await affinity(userId, `product:${pick.productId}`)).toBeUndefined();
    expect((await popularity()).get(pick.productId)).toBeUndefined();

    // The reader who follows the link after the crawler still counts.
    expect((await follow(pick.clickUrl)).status).toBe(302);
    expect(await eventsNamed(userId, "Email Link Clicked")).toHaveLength(2);
    expect(await affinity(userId, `product:${pick.productId}`)).toBe(2);
  });

  it("counts an open once however often the pixel loads", async () => {
    const { userId, merge } = await personWithEmail();
    for (let i = 0; i < 20; i++) {
      const res = await follow(merge.open_pixel_url);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("image/gif");
    }
    expect(await eventsNamed(userId, "Email Opened")).toHaveLength(1);
  });
});

describe("a link scanner following every link of an e-mail at once", () => {
  it("has the clicks after the first recorded as a bot's, too fast to be a reader's", async () => {
    const { userId, merge } = await personWithEmail(3);
    expect(merge.recommendations).toHaveLength(3);
    for (const pick of merge.recommendations) expect((await follow(pick.clickUrl)).status).toBe(302);

    const clicks = (await eventsNamed(userId, "Email Link Clicked")).reverse();
    expect(clicks.map((c) => c.properties.product_id)).toEqual(merge.recommendations.map((r) => r.productId));
    expect(clicks.map((c) => c.context.botReason ?? null)).toEqual([null, "too_fast", "too_fast"]);
    expect(clicks.map((c) => c.context.bot ?? false)).toEqual([false, true, true]);
    const [first, second, third] = merge.recommendations.map((r) => `product:${r.productId}`);
    const firstBefore = merge.recommendations[0]?.productId.endsWith("-0") ? 1 : 0;
    expect(await affinity(userId, first as string)).toBe(firstBefore + 2);
    expect(await affinity(userId, second as string)).toBeUndefined();
    expect(await affinity(userId, third as string)).toBeUndefined();
  });
});

describe("link tokens", () => {
  it("name neither the person, their address nor the target, in any decoding", async () => {
    const userId = uid("jane.doe");
    const email = `${userId}@example.com`;
    const { merge } = await personWithEmail(2, { email });
    const byEmail = await readJson<Merge>(`/v1/merge/email:${email}`);
    const tokens = [...merge.recommendations, ...byEmail.recommendations]
      .map((r) => r.clickUrl)
      .concat(merge.open_pixel_url, byEmail.open_pixel_url)
      .map((url) => new URL(url).pathname.slice(3));
    for (const token of tokens) {
      expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
      const standard = token.replace(/-/g, "+").replace(/_/g, "/");
      const decoded = atob(standard.padEnd(Math.ceil(standard.length / 4) * 4, "="));
      const utf8 = new TextDecoder().decode(Uint8Array.from(decoded, (c) => c.charCodeAt(0)));
      for (const text of [token, decoded, utf8].map((t) => t.toLowerCase())) {
        for (const secret of [userId.slice(0, 20), "example.com", "user_id", "shop.example.com", "winter"]) {
          expect(text).not.toContain(secret);
        }
      }
    }
  });

  it("issued before tokens were sealed still redirect and count", async () => {
    const { userId, tag } = await personWithEmail();
    const claims = {
      kind: "c",
      profile: `user_id:${userId}`,
      campaign: "autumn",
      variant: null,
      url: `https://shop.example.com/p/${tag}-3`,
      productId: `${tag}-3`,
      exp: Math.floor(Date.now() / 1000) + 3600,
    };
    const token = await legacyToken(claims, "test-link-secret");
    const res = await handle(`/c/${token}`, { redirect: "manual", headers: { "user-agent": BROWSER } });
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe(claims.url);
    expect((await eventsNamed(userId, "Email Link Clicked"))[0]?.properties).toMatchObject({
      product_id: `${tag}-3`,
      campaign: "autumn",
    });
  });

  it("in any spelling but the canonical one are refused without a redirect", async () => {
    const { userId, merge } = await personWithEmail();
    let token = new URL(merge.recommendations[0]?.clickUrl as string).pathname.slice(3);
    // Another link of the same e-mail with - or _ in it, so the other alphabet's spelling differs.
    for (const r of merge.recommendations) {
      const t = new URL(r.clickUrl).pathname.slice(3);
      if (/[-_]/.test(t)) token = t;
    }
    expect(token).toMatch(/[-_]/);
    const legacy = await legacyToken(
      {
        kind: "c",
        profile: `user_id:${userId}`,
        campaign: null,
        variant: null,
        url: "https://shop.example.com/",
        exp: 9e9,
      },
      "test-link-secret",
    );
    const pad = (t: string) => `${t}${"%3D".repeat((4 - (t.length % 4)) % 4 || 1)}`;
    const variants = [
      token.replace(/-/g, "+").replace(/_/g, "%2F"),
      pad(token),
      `%20${token}`,
      `${token}%0A`,
      `${legacy.replace(".", "%3D.")}`,
      `${legacy}%3D%3D`,
    ];
    for (const variant of variants) {
      const res = await handle(`/c/${variant}`, { redirect: "manual" });
      expect(res.status, variant).toBe(400);
      expect(res.headers.get("location"), variant).toBeNull();
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe("invalid_link");
    }
    expect(await eventsNamed(userId, "Email Link Clicked")).toHaveLength(0);
  });
});

describe("popularity", () => {
  it("counts people, not requests: one person hammering a product cannot lift it above one five people viewed", async () => {
    const tag = uid("pop").slice(0, 12);
    const hammered = productFixture(`${tag}-hammered`, { title: `Hammered ${tag}`, categories: [`Cat ${tag}`] });
    const liked = productFixture(`${tag}-liked`, { title: `Liked ${tag}`, categories: [`Other ${tag}`] });
    expect((await putCatalog([hammered, liked])).status).toBe(200);

    const attacker = uid("attacker");
    const view = (userId: string, productId: string) => ({
      type: "track",
      userId,
      event: "Product Viewed",
      properties: { product_id: productId },
    });
    await sendBatch(Array.from({ length: 100 }, () => view(attacker, hammered.id)));
    // And the same person replaying one e-mail link to it.
    const merge = await readJson<Merge>(`/v1/merge/user_id:${attacker}?limit=12`);
    const link = merge.recommendations.find((r) => r.productId === hammered.id);
    expect(link).toBeDefined();
    for (let i = 0; i < 50; i++) expect((await follow(link?.clickUrl as string)).status).toBe(302);

    await sendBatch(Array.from({ length: 5 }, () => view(uid("shopper"), liked.id)));

    const scores = await popularity();
    expect(scores.get(liked.id)).toBeGreaterThan(4 * (scores.get(hammered.id) ?? 0));
    const res = await read(`/v1/merge/user_id:${uid("unknown-person")}?format=html&limit=12`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain("Popular right now");
    expect(html.indexOf(liked.title)).toBeGreaterThanOrEqual(0);
    const hammeredAt = html.indexOf(hammered.title);
    expect(hammeredAt === -1 || hammeredAt > html.indexOf(liked.title)).toBe(true);
    // The top pick for someone unknown is what five people looked at.
    expect(html.match(/<a href="[^"]*" target="_blank" style="[^"]*">([^<]*)<\/a>/)?.[1]).toBe(liked.title);
  });
});

const encoder = new TextEncoder();

function base64Url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

/** A link as issued before tokens were sealed: base64url JSON claims, a dot, base64url HMAC-SHA256. */
async function legacyToken(claims: unknown, secret: string): Promise<string> {
  const body = base64Url(encoder.encode(JSON.stringify(claims)));
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  return `${body}.${base64Url(new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(body))))}`;
}
