/**
 * Looking a person up by e-mail (what ESPs key on): `identify` with an
 * `email` trait points the identifier directory (`email:<sha256>`) at the
 * person, and every read route resolves `email:` ids through it, one hop.
 */
import { describe, expect, it } from "vitest";
import { emailDirectoryName } from "../../src/model/profile-id";
import type { ProfileView as Profile } from "../../src/model/views";
import { call, productFixture, putCatalog, read, readJson, sendBatch, uid } from "./helpers";

describe("e-mail lookups", () => {
  it("find the person by any spelling of their address, on every read route", async () => {
    const userId = uid();
    const email = `${userId}@Example.com`;
    await sendBatch([
      { type: "identify", userId, traits: { email: `  ${email} `, firstName: "Ada" } },
      { type: "track", userId, event: "Product Viewed", properties: { product_id: "sku-1", category: "Shoes" } },
    ]);
    const byEmail = await readJson<Profile>(`/v1/profiles/email:${email.toUpperCase()}`);
    expect(byEmail.id).toBe(`user_id:${userId}`);
    expect(byEmail.traits.email).toBe(email.toLowerCase());
    expect(byEmail).toEqual(await readJson<Profile>(`/v1/profiles/user_id:${userId}`));
    const { events } = await readJson<{ events: unknown[] }>(`/v1/profiles/email:${email}/events`);
    expect(events).toHaveLength(2);
    const recs = await read(`/v1/profiles/email:${email}/recommendations`);
    expect(recs.status).toBe(200);
  });

  it("keep the address out of the directory's own names", async () => {
    const name = await emailDirectoryName(" Jane@Example.com ");
    expect(name).toMatch(/^email:[0-9a-f]{64}$/);
    expect(name).toBe(await emailDirectoryName("jane@example.com"));
    expect(name).not.toContain("jane");
  });

  it("answer 404 for an address nobody has identified with", async () => {
    expect((await read(`/v1/profiles/email:${uid()}@nowhere.example`)).status).toBe(404);
  });

  it("follow the newest person to claim an address", async () => {
    const email = `${uid()}@example.com`;
    const first = uid();
    const second = uid();
    await sendBatch([{ type: "identify", userId: first, traits: { email } }]);
    await sendBatch([{ type: "identify", userId: second, traits: { email } }]);
    expect((await readJson<Profile>(`/v1/profiles/email:${email}`)).id).toBe(`user_id:${second}`);
  });

  it("give the ESP a personal merge by e-mail whose clicks land on the person", async () => {
    const tag = uid("em").slice(0, 12);
    expect((await putCatalog([productFixture(`${tag}-0`, { categories: [`Cat ${tag}`] })])).status).toBe(200);
    const userId = uid();
    const email = `${userId}@example.com`;
    await sendBatch([
      { type: "identify", userId, traits: { email, firstName: "Grace" } },
      {
        type: "track",
        userId,
        event: "Product Viewed",
        properties: { product_id: `${tag}-0`, category: `Cat ${tag}` },
      },
    ]);
    const merge = await readJson<{
      profile: { id: string; known: boolean; traits: Record<string, unknown> };
      recommendations: { clickUrl: string }[];
      strategy: string;
    }>(`/v1/merge/email:${email}`);
    expect(merge.profile).toMatchObject({ id: `user_id:${userId}`, known: true, traits: { firstName: "Grace" } });
    expect(merge.strategy).toBe("personalized");
    const clickUrl = merge.recommendations[0]?.clickUrl ?? "";
    expect(clickUrl).not.toContain(encodeURIComponent(email));
    const before = (await readJson<Profile>(`/v1/profiles/user_id:${userId}`)).counts.events;
    expect((await call(new URL(clickUrl).pathname, { redirect: "manual" })).status).toBe(302);
    expect((await readJson<Profile>(`/v1/profiles/user_id:${userId}`)).counts.events).toBe(before + 1);
  });

  it("give an unknown address the trending block, its links naming no address", async () => {
    const tag = uid("em").slice(0, 12);
    expect((await putCatalog([productFixture(`${tag}-0`)])).status).toBe(200);
    const email = `${uid()}@nowhere.example`;
    const merge = await readJson<{ profile: { id: string; known: boolean }; strategy: string }>(
      `/v1/merge/email:${email}`,
    );
    expect(merge.profile.known).toBe(false);
    expect(merge.profile.id).toBe(await emailDirectoryName(email));
    expect(merge.strategy).toBe("trending");
  });
});
