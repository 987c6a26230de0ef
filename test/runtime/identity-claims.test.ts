/**
 * Identity claims from public browser keys: the browser key sits in every
 * web page, so whoever reads it must not be able to take over another
 * person's e-mail lookup or rewrite a known user's traits. Server keys and
 * browser calls carrying the identity-verification hash keep the usual
 * Segment flows; refused claims are recorded for an operator.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { emailDirectory } from "../../src/actors/client";
import { MAX_CLAIMANTS } from "../../src/actors/email-directory";
import { userHashOf } from "../../src/model/identity-claims";
import { emailDirectoryName, emailSha256 } from "../../src/model/profile-id";
import type { ProfileView as Profile } from "../../src/model/views";
import {
  API_KEY,
  BROWSER_KEY,
  basic,
  call,
  IDENTITY_SECRET,
  ingest,
  productFixture,
  putCatalog,
  read,
  readJson,
  sendBatch,
  uid,
} from "./helpers";

interface IngestAnswer {
  accepted: number;
  warnings?: { index: number; reason: string }[];
}

/** What a web page sends with the public browser key. */
async function fromBrowser(batch: unknown[]): Promise<IngestAnswer> {
  const res = await ingest("/v1/batch", { batch }, { authorization: basic(BROWSER_KEY) });
  expect(res.status).toBe(200);
  return (await res.json()) as IngestAnswer;
}

interface Conflict {
  kind: string;
  profileId: string;
  holderProfileId: string | null;
  emailSha256: string | null;
  claimed: Record<string, unknown> | null;
}

async function conflictsOf(profileId: string): Promise<Conflict[]> {
  return (await readJson<{ items: Conflict[] }>(`/v1/identity/conflicts?profile=${encodeURIComponent(profileId)}`))
    .items;
}

const PHISH = "Vera, your account is locked: call +1 555 0100";

describe("an e-mail lookup claimed from a browser key", () => {
  it("stays with the person who holds the address, and the attempt is recorded", async () => {
    await putCatalog([productFixture(uid("sku"))]);
    const victim = uid("vera");
    const attacker = uid("mallory");
    const email = `${victim}@example.com`;
    await sendBatch([{ type: "identify", userId: victim, traits: { email, firstName: "Vera" } }]);

    await fromBrowser([{ type: "identify", userId: attacker, traits: { email, firstName: PHISH } }]);

    const merge = await readJson<{
      profile: { id: string; traits: Record<string, unknown> };
      recommendation_block: string;
    }>(`/v1/merge/email:${email}`);
    expect(merge.profile.id).toBe(`user_id:${victim}`);
    expect(merge.profile.traits.firstName).toBe("Vera");
    expect(merge.recommendation_block).not.toContain("locked");
    const byHash = await readJson<Profile>(`/v1/profiles/email_sha256:${await emailSha256(email)}`);
    expect(byHash.id).toBe(`user_id:${victim}`);

    const [conflict] = await conflictsOf(`user_id:${attacker}`);
    expect(conflict).toMatchObject({
      kind: "email_claimed",
      profileId: `user_id:${attacker}`,
      holderProfileId: `user_id:${victim}`,
      emailSha256: await emailSha256(email),
    });
  });

  it("stays with its holder when a browser call merges a visitor that claimed it into a new user id", async () => {
    const victim = uid("vera");
    const email = `${victim}@example.com`;
    const visitor = uid("anon");
    const newcomer = uid("mallory");
    await sendBatch([{ type: "identify", userId: victim, traits: { email, firstName: "Vera" } }]);
    await fromBrowser([{ type: "identify", anonymousId: visitor, traits: { email, firstName: PHISH } }]);
    await fromBrowser([{ type: "identify", userId: newcomer, anonymousId: visitor }]);

    const merge = await readJson<{ profile: { id: string; traits: Record<string, unknown> } }>(
      `/v1/merge/email:${email}`,
    );
    expect(merge.profile.id).toBe(`user_id:${victim}`);
    expect(merge.profile.traits.firstName).toBe("Vera");
    const [conflict] = await conflictsOf(`user_id:${newcomer}`);
    expect(conflict).toMatchObject({ kind: "email_claimed", holderProfileId: `user_id:${victim}` });
  });

  it("moves with a server key (the newest trusted claim wins) and with a verified browser call", async () => {
    const email = `${uid()}@example.com`;
    const first = uid();
    const second = uid();
    const third = uid();
    await sendBatch([{ type: "identify", userId: first, traits: { email } }]);
    await sendBatch([{ type: "identify", userId: second, traits: { email } }]);
    expect((await readJson<Profile>(`/v1/profiles/email:${email}`)).id).toBe(`user_id:${second}`);
    const userHash = await userHashOf(IDENTITY_SECRET, third);
    await fromBrowser([{ type: "identify", userId: third, traits: { email }, context: { userHash } }]);
    expect((await readJson<Profile>(`/v1/profiles/email:${email}`)).id).toBe(`user_id:${third}`);
  });

  it("is taken by a browser call when nobody holds the address yet", async () => {
    const email = `${uid()}@example.com`;
    const userId = uid();
    const answer = await fromBrowser([{ type: "identify", userId, traits: { email, firstName: "Ada" } }]);
    expect(answer.accepted).toBe(1);
    const profile = await readJson<Profile>(`/v1/profiles/email:${email}`);
    expect(profile.id).toBe(`user_id:${userId}`);
    expect(profile.traits).toMatchObject({ email, firstName: "Ada" });
  });
});

describe("an address a visitor claimed, once the visitor is merged into a known user without verification", () => {
  it("no longer leads to anyone: its merge call, reads and erasure never reach the user", async () => {
    const victim = uid("vera");
    const visitor = uid("anon");
    const attackerEmail = `${uid("mallory")}@example.com`;
    await sendBatch([
      { type: "identify", userId: victim, traits: { email: `${victim}@example.com`, firstName: "Vera" } },
    ]);
    const earlierEmail = `${uid("mallory")}@example.com`;
    await fromBrowser([{ type: "identify", anonymousId: visitor, traits: { email: earlierEmail } }]);
    await fromBrowser([{ type: "identify", anonymousId: visitor, traits: { email: attackerEmail } }]);
    expect((await readJson<Profile>(`/v1/profiles/email:${attackerEmail}`)).id).toBe(`anonymous_id:${visitor}`);
    // A page's usual sign-in call, but for someone else's user id and without the user's hash.
    await fromBrowser([{ type: "identify", userId: victim, anonymousId: visitor }]);

    const merge = await readJson<{ profile: { id: string | null; traits: Record<string, unknown> } }>(
      `/v1/merge/email:${attackerEmail}`,
    );
    expect(merge.profile.traits.firstName).toBeUndefined();
    expect(merge.profile.id).not.toBe(`user_id:${victim}`);
    expect((await read(`/v1/profiles/email:${attackerEmail}`)).status).toBe(404);
    expect((await read(`/v1/profiles/email:${earlierEmail}`)).status).toBe(404);

    const erased = await call(`/v1/profiles/email:${attackerEmail}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(erased.status).toBe(200);
    expect((await readJson<Profile>(`/v1/profiles/user_id:${victim}`)).traits.firstName).toBe("Vera");
  });
});

describe("a privacy request about an address claimed from a browser key", () => {
  it("exports only the holder's data, and erasure by the address's hash forgets the holder and every claimant", async () => {
    const victim = uid("vera");
    const attacker = uid("mallory");
    const email = `${victim}@example.com`;
    await sendBatch([{ type: "identify", userId: victim, traits: { email, firstName: "Vera" } }]);
    await fromBrowser([{ type: "identify", userId: attacker, traits: { email, firstName: PHISH } }]);
    expect(await conflictsOf(`user_id:${attacker}`)).toHaveLength(1);

    const exported = await read(`/v1/profiles/email:${email}/export`);
    expect(exported.status).toBe(200);
    const document = await exported.text();
    expect(document).toContain(victim);
    expect(document).not.toContain(attacker);
    expect(document).not.toContain("locked");

    const hash = await emailSha256(email);
    const erased = await call(`/v1/profiles/email_sha256:${hash}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(erased.status).toBe(200);
    expect((await read(`/v1/profiles/user_id:${victim}`)).status).toBe(404);
    expect((await read(`/v1/profiles/user_id:${attacker}`)).status).toBe(404);
    expect((await read(`/v1/profiles/email_sha256:${hash}`)).status).toBe(404);
    expect(await conflictsOf(`user_id:${attacker}`)).toEqual([]);
    const rows = await readJson<{ items: Conflict[] }>(`/v1/identity/conflicts?limit=500`);
    expect(rows.items.filter((c) => c.emailSha256 === hash || c.holderProfileId === `user_id:${victim}`)).toEqual([]);
  });

  it("erasure by user id releases every address the person ever claimed, also one they have since changed", async () => {
    const userId = uid("moved");
    const [before, after] = [`${userId}-old@example.com`, `${userId}-new@example.com`];
    await sendBatch([{ type: "identify", userId, traits: { email: before } }]);
    await sendBatch([{ type: "identify", userId, traits: { email: after } }]);
    const oldEntry = await emailDirectoryName(before);
    expect(await emailDirectory(env, oldEntry).allClaimants(oldEntry)).toEqual([`user:${userId}`]);

    const erased = await call(`/v1/profiles/user_id:${userId}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(erased.status).toBe(200);
    for (const email of [before, after]) {
      const entry = await emailDirectoryName(email);
      expect(await emailDirectory(env, entry).allClaimants(entry)).toEqual([]);
      expect((await read(`/v1/profiles/email:${email}`)).status).toBe(404);
    }
  });

  it("still reaches an early claimant after a flood of made-up claimants fills the address's entry", async () => {
    const holder = uid("vera");
    const email = `${holder}@example.com`;
    await sendBatch([{ type: "identify", userId: holder, traits: { email } }]);
    const entry = await emailDirectoryName(email);
    const directory = emailDirectory(env, entry);
    await directory.claim(entry, "anon:early-visitor", false);
    for (let i = 0; i < MAX_CLAIMANTS; i++) await directory.claim(entry, `anon:junk-${i}`, false);
    const claimants = await directory.allClaimants(entry);
    expect(claimants).toHaveLength(MAX_CLAIMANTS);
    expect(claimants.slice(0, 2)).toEqual([`user:${holder}`, "anon:early-visitor"]);
  }, 60_000);

  it("refuses an address hash that is not 64 hex digits", async () => {
    const res = await call("/v1/regulations", {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ regulationType: "DELETE_ONLY", subjectType: "EMAIL_SHA256", subjectIds: ["abc"] }),
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("64 hex digits");
  });
});

describe("a known user's traits from a browser key", () => {
  it("are not changed without identity verification, and the claim is kept for review", async () => {
    const userId = uid();
    await sendBatch([{ type: "identify", userId, traits: { firstName: "Vera", plan: "gold" } }]);
    const answer = await fromBrowser([
      { type: "identify", userId, traits: { firstName: PHISH } },
      { type: "track", userId, event: "Product Viewed", properties: { product_id: "sku-9", category: "Socks" } },
    ]);
    expect(answer.accepted).toBe(2);
    expect(answer.warnings?.[0]?.reason).toContain("identity verification");

    const profile = await readJson<Profile>(`/v1/profiles/user_id:${userId}`);
    expect(profile.traits).toEqual({ firstName: "Vera", plan: "gold" });
    // The behaviour itself still counts.
    expect(profile.counts.events).toBe(3);
    const [conflict] = await conflictsOf(`user_id:${userId}`);
    expect(conflict).toMatchObject({ kind: "unverified_traits", claimed: { firstName: PHISH } });
  });

  it("are applied when the call carries the user's verification hash, and refused with a wrong one", async () => {
    const userId = uid();
    await sendBatch([{ type: "identify", userId, traits: { firstName: "Vera" } }]);
    await fromBrowser([
      { type: "identify", userId, traits: { firstName: "Wrong" }, context: { userHash: "ab".repeat(32) } },
    ]);
    await fromBrowser([{ type: "identify", userId, traits: { firstName: "Ver" }, context: { userHash: "nope" } }]);
    expect((await readJson<Profile>(`/v1/profiles/user_id:${userId}`)).traits.firstName).toBe("Vera");

    const userHash = await userHashOf(IDENTITY_SECRET, userId);
    const answer = await fromBrowser([
      { type: "identify", userId, traits: { firstName: "Verity" }, context: { userHash } },
    ]);
    expect(answer.warnings).toBeUndefined();
    expect((await readJson<Profile>(`/v1/profiles/user_id:${userId}`)).traits.firstName).toBe("Verity");
    // The hash is a credential of the moment: it is not kept with the event.
    const { events } = await readJson<{ events: { context: Record<string, unknown> }[] }>(
      `/v1/profiles/user_id:${userId}/events?limit=1`,
    );
    expect(events[0]?.context.userHash).toBeUndefined();

    // Nor when a server source passes one along.
    await sendBatch([{ type: "track", userId, event: "Signed In", context: { userHash } }]);
    const [fromServer] = (
      await readJson<{ events: { name: string | null; context: Record<string, unknown> }[] }>(
        `/v1/profiles/user_id:${userId}/events?limit=1`,
      )
    ).events;
    expect(fromServer?.name).toBe("Signed In");
    expect(fromServer?.context.userHash).toBeUndefined();
  });

  it("cannot be smuggled in through a visitor merged into the user", async () => {
    const userId = uid();
    const anonymousId = uid("anon");
    await sendBatch([{ type: "identify", userId, traits: { firstName: "Vera" } }]);
    await fromBrowser([
      { type: "identify", anonymousId, traits: { firstName: PHISH } },
      { type: "page", anonymousId, name: "Home" },
    ]);
    await fromBrowser([{ type: "track", userId, anonymousId, event: "Signed In" }]);
    const profile = await readJson<Profile>(`/v1/profiles/user_id:${userId}`);
    expect(profile.traits.firstName).toBe("Vera");
    // The visitor's activity joined the person.
    expect(profile.anonymousIds).toContain(anonymousId);
    expect(profile.counts.events).toBe(4);
  });

  it("are changed through a pixel only as from a browser, whichever key the pixel carries", async () => {
    const userId = uid();
    await sendBatch([{ type: "identify", userId, traits: { firstName: "Vera" } }]);
    const data = btoa(JSON.stringify({ writeKey: "test-write-key", userId, traits: { firstName: PHISH } }));
    const res = await call(`/v1/pixel/identify?data=${encodeURIComponent(data)}`);
    expect(res.status).toBe(200);
    expect((await readJson<Profile>(`/v1/profiles/user_id:${userId}`)).traits.firstName).toBe("Vera");
  });
});

describe("an e-mail lookup written before the directory had its own class", () => {
  /** What such an entry was: a ProfileActor named `email:<sha256>` holding only a pointer to the person. */
  async function writeLegacyEntry(email: string, target: string) {
    const name = await emailDirectoryName(email);
    const stub = env.PROFILES.get(env.PROFILES.idFromName(name));
    await runInDurableObject(stub, async (instance: unknown, state: DurableObjectState) => {
      const actor = instance as { ensureSchema(): Promise<void>; pointsTo: string | null };
      await actor.ensureSchema();
      state.storage.sql.exec("INSERT INTO pointer (id, target, at) VALUES (1, ?, ?)", target, Date.now());
      actor.pointsTo = target;
    });
    return stub;
  }

  it("is taken over once and cleared where it was, so an erasure leaves nothing that could bring it back", async () => {
    const userId = uid("old");
    const email = `${userId}@example.com`;
    await sendBatch([{ type: "identify", userId, traits: { plan: "pro" } }]);
    const legacy = await writeLegacyEntry(email, `user:${userId}`);

    expect((await readJson<Profile>(`/v1/profiles/email:${email}`)).id).toBe(`user_id:${userId}`);
    const left = await runInDurableObject(legacy, (_i: unknown, state: DurableObjectState) =>
      state.storage.sql.exec("SELECT name FROM sqlite_master WHERE name = 'pointer'").toArray(),
    );
    expect(left).toEqual([]);

    const erased = await call(`/v1/profiles/user_id:${userId}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(erased.status).toBe(200);
    expect((await read(`/v1/profiles/email:${email}`)).status).toBe(404);
  });
});
