/**
 * Identity resolution: anonymous browsing follows a person once they
 * identify (or alias), the visitor's actor forwards late events and reads to
 * the person, and a visitor is never joined to a second known user.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { emailDirectoryName } from "../../src/model/profile-id";
import type { ProfileView as Profile } from "../../src/model/views";
import { productFixture, putCatalog, read, readJson, sendBatch, uid } from "./helpers";

interface Recommendations {
  items: { productId: string; reason: string }[];
  strategy: string;
}

/** A catalog of its own per test: `n` products in each of two categories. */
async function catalog(tag: string) {
  const products = ["Trail", "Road"].flatMap((kind) =>
    [0, 1, 2].map((i) => productFixture(`${tag}-${kind}-${i}`, { categories: [`${kind} ${tag}`], brand: kind })),
  );
  expect((await putCatalog(products)).status).toBe(200);
}

const viewed = (anonymousId: string, productId: string, category: string, at: string) => ({
  type: "track",
  anonymousId,
  event: "Product Viewed",
  timestamp: at,
  properties: { product_id: productId, category },
});

const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();

describe("identity resolution", () => {
  it("gives the user everything they browsed anonymously, in one visit, and recommends from it", async () => {
    const tag = uid("id").slice(0, 11);
    await catalog(tag);
    const anonymousId = uid("anon");
    const userId = uid();
    await sendBatch([
      { type: "page", anonymousId, timestamp: minutesAgo(10), properties: { url: "https://shop.example/trail" } },
      viewed(anonymousId, `${tag}-Trail-0`, `Trail ${tag}`, minutesAgo(9)),
      viewed(anonymousId, `${tag}-Trail-1`, `Trail ${tag}`, minutesAgo(8)),
    ]);
    const cold = await readJson<Recommendations>(`/v1/profiles/user_id:${userId}/recommendations`);
    expect(cold.strategy).toBe("trending");

    const identified = await sendBatch([
      { type: "identify", userId, anonymousId, traits: { email: `${userId}@example.com`, firstName: "Ada" } },
    ]);
    expect(identified.warnings).toBeUndefined();

    const person = await readJson<Profile>(`/v1/profiles/user_id:${userId}`);
    expect(person).toMatchObject({
      id: `user_id:${userId}`,
      userId,
      anonymousIds: [anonymousId],
      traits: { firstName: "Ada" },
      counts: { events: 4, sessions: 1 },
      session: { current: { events: 4, pages: 1, landingPage: "https://shop.example/trail" } },
    });
    expect(person.affinities[0]?.dimension).toBe(`category:trail-${tag.toLowerCase()}`);
    const recs = await readJson<Recommendations>(`/v1/profiles/user_id:${userId}/recommendations`);
    expect(recs.strategy).toBe("personalized");
    expect(recs.items[0]?.productId).toMatch(new RegExp(`^${tag}-Trail-`));
    const { events } = await readJson<{ events: { type: string }[] }>(`/v1/profiles/user_id:${userId}/events`);
    expect(events.map((e) => e.type)).toEqual(["identify", "track", "track", "page"]);
  });

  it("answers anonymous_id: reads, the merge tag and e-mail lookups with the person", async () => {
    const anonymousId = uid("anon");
    const userId = uid();
    const email = `${anonymousId}@example.com`;
    // The visitor gave an address before signing in: the directory first names the visitor.
    await sendBatch([{ type: "identify", anonymousId, traits: { email } }]);
    expect((await readJson<Profile>(`/v1/profiles/email:${email}`)).id).toBe(`anonymous_id:${anonymousId}`);
    await sendBatch([{ type: "identify", userId, anonymousId }]);

    const person = await readJson<Profile>(`/v1/profiles/user_id:${userId}`);
    expect(person.traits.email).toBe(email);
    expect(await readJson<Profile>(`/v1/profiles/anonymous_id:${anonymousId}`)).toEqual(person);
    expect(await readJson<Profile>(`/v1/profiles/email:${email}`)).toEqual(person);
    const merge = await readJson<{ profile: { id: string } }>(`/v1/merge/anonymous_id:${anonymousId}`);
    expect(merge.profile.id).toBe(`user_id:${userId}`);
    // The directory now names the person directly: one hop, not two.
    const directory = env.DIRECTORY.get(env.DIRECTORY.idFromName(await emailDirectoryName(email)));
    const target = await runInDurableObject(
      directory,
      (_i, state) => state.storage.sql.exec<{ target: string }>("SELECT target FROM lookup").one().target,
    );
    expect(target).toBe(`user:${userId}`);
  });

  it("lands late anonymous events on the person, once each", async () => {
    const tag = uid("late").slice(0, 12);
    await catalog(tag);
    const anonymousId = uid("anon");
    const userId = uid();
    const early = viewed(anonymousId, `${tag}-Road-0`, `Road ${tag}`, minutesAgo(5));
    await sendBatch([{ ...early, messageId: `${anonymousId}-early` }]);
    await sendBatch([{ type: "identify", userId, anonymousId }]);
    // A beacon queued before sign-in arrives after it, and a retry repeats the early event.
    const late = {
      ...viewed(anonymousId, `${tag}-Road-1`, `Road ${tag}`, minutesAgo(4)),
      messageId: `${anonymousId}-late`,
    };
    await sendBatch([late, { ...early, messageId: `${anonymousId}-early` }]);
    await sendBatch([late]);

    const person = await readJson<Profile>(`/v1/profiles/user_id:${userId}`);
    expect(person.counts.events).toBe(3);
    const { events } = await readJson<{ events: { messageId: string }[] }>(`/v1/profiles/user_id:${userId}/events`);
    expect(
      events
        .map((e) => e.messageId)
        .filter((id) => id.startsWith(anonymousId))
        .sort(),
    ).toEqual([`${anonymousId}-early`, `${anonymousId}-late`]);
    const road = person.affinities.find((a) => a.dimension === `category:road-${tag.toLowerCase()}`);
    expect(road?.score).toBeGreaterThan(1.9);
  });

  it("refuses a second user claiming the same anonymous id, saying why, and leaves the first user whole", async () => {
    const anonymousId = uid("anon");
    const first = uid();
    const second = uid();
    await sendBatch([viewed(anonymousId, "sku-shared", "Shared", minutesAgo(3))]);
    await sendBatch([{ type: "identify", userId: first, anonymousId }]);
    const claim = await sendBatch([
      { type: "track", userId: second, event: "Signed In" },
      { type: "identify", userId: second, anonymousId, traits: { plan: "pro" } },
    ]);
    expect(claim.accepted).toBe(2);
    expect(claim.rejected).toEqual([]);
    expect(claim.warnings).toEqual([
      { index: 1, reason: expect.stringMatching(/already merged into another known user/) },
    ]);
    expect(claim.warnings?.[0]?.reason).not.toContain(first);

    const secondProfile = await readJson<Profile>(`/v1/profiles/user_id:${second}`);
    expect(secondProfile).toMatchObject({ traits: { plan: "pro" }, anonymousIds: [], counts: { events: 2 } });
    const firstProfile = await readJson<Profile>(`/v1/profiles/user_id:${first}`);
    expect(firstProfile).toMatchObject({ anonymousIds: [anonymousId], counts: { events: 2 } });
    expect((await readJson<Profile>(`/v1/profiles/anonymous_id:${anonymousId}`)).id).toBe(`user_id:${first}`);
    // Decided once: repeating the claim neither asks again nor lists the id.
    const again = await sendBatch([{ type: "page", userId: second, anonymousId }]);
    expect(again.warnings).toBeUndefined();
    expect((await readJson<Profile>(`/v1/profiles/user_id:${second}`)).anonymousIds).toEqual([]);
  });

  it("merges on alias, and refuses to alias one known user into another", async () => {
    const previousId = uid("anon");
    const userId = uid();
    await sendBatch([viewed(previousId, "sku-a", "Alias", minutesAgo(2))]);
    const aliased = await sendBatch([{ type: "alias", previousId, userId }]);
    expect(aliased.warnings).toBeUndefined();
    expect((await readJson<Profile>(`/v1/profiles/user_id:${userId}`)).counts.events).toBe(2);
    expect((await readJson<Profile>(`/v1/profiles/anonymous_id:${previousId}`)).id).toBe(`user_id:${userId}`);

    const other = uid();
    await sendBatch([{ type: "identify", userId: other, traits: { name: "Other" } }]);
    const joined = await sendBatch([{ type: "alias", previousId: other, userId }]);
    expect(joined.warnings?.[0]?.reason).toMatch(/two known users are never merged/);
    expect((await readJson<Profile>(`/v1/profiles/user_id:${other}`)).traits).toEqual({ name: "Other" });
    expect((await readJson<Profile>(`/v1/profiles/user_id:${userId}`)).counts.events).toBe(3);
  });

  it("stops merging into one profile after 100 anonymous ids", async () => {
    const userId = uid();
    const ids = Array.from({ length: 102 }, (_, i) => `${userId}-visitor-${i}`);
    const res = await sendBatch(ids.map((anonymousId) => ({ type: "page", userId, anonymousId })));
    expect(res.accepted).toBe(102);
    expect(res.warnings).toHaveLength(2);
    expect(res.warnings?.[0]?.reason).toMatch(/already joined 100 anonymous ids/);
    const merged = await read(`/v1/profiles/anonymous_id:${ids[99]}`);
    expect(((await merged.json()) as Profile).id).toBe(`user_id:${userId}`);
    // The visitors past the cap stay their own (never-seen) selves.
    expect((await read(`/v1/profiles/anonymous_id:${ids[101]}`)).status).toBe(404);
  });
});
