/**
 * An operator joins two known people on purpose (`POST /v1/profiles/merge`,
 * DESIGN §9): the duplicate search finds the pair, the merge goes through
 * identity resolution's own path (the second person's actor hands over and
 * forwards), it reaches the warehouse, it is audited, and erasing the
 * person afterwards erases both. The automatic rule stays: a write key's
 * alias still never joins two known users.
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ProfileActor } from "../../src/actors/profile-actor";
import { API_KEY, call, eventually, readJson, sendBatch, uid } from "./helpers";

interface Profile {
  id: string;
  userId: string;
  traits: Record<string, unknown>;
  counts: { events: number };
  affinities: { dimension: string; score: number }[];
}

function merge(body: unknown, key = API_KEY) {
  return call("/v1/profiles/merge", {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

const actor = (name: string) => env.PROFILES.get(env.PROFILES.idFromName(name)) as DurableObjectStub<ProfileActor>;

async function d1<T>(query: string, ...binds: unknown[]): Promise<T[]> {
  return (
    await env.WAREHOUSE.prepare(query)
      .bind(...binds)
      .all<T>()
  ).results;
}

/** Two sign-ups of one woman: different user ids, the same Gmail address but for a dot, one name typed in lower case. */
async function janeTwice() {
  const [first, second] = [uid("jane"), uid("jane")];
  await sendBatch([
    { type: "identify", userId: first, traits: { name: "Jane Doe", email: `jane.doe.${first.slice(-6)}@gmail.com` } },
    { type: "track", event: "Product Viewed", userId: first, properties: { product_id: "shoe-1", category: "Shoes" } },
    { type: "identify", userId: second, traits: { name: "jane doe", email: `janedoe${first.slice(-6)}@gmail.com` } },
    { type: "track", event: "Product Viewed", userId: second, properties: { product_id: "bag-1", category: "Bags" } },
    { type: "track", event: "Product Viewed", userId: second, properties: { product_id: "bag-2", category: "Bags" } },
  ]);
  return { first, second };
}

describe("an operator's merge of two known people", () => {
  it("is found as a duplicate pair once both reach the warehouse", async () => {
    const { first, second } = await janeTwice();
    for (const id of [first, second]) await runDurableObjectAlarm(actor(`user:${id}`));
    await eventually(
      async () =>
        (await d1<{ n: number }>("SELECT COUNT(*) AS n FROM profiles WHERE user_id IN (?, ?)", first, second))[0]?.n ===
        2,
      "both profiles in the warehouse",
    );
    const found = await readJson<{ items: { a: string; b: string; score: number; evidence: { kind: string }[] }[] }>(
      "/v1/quality/duplicates?limit=100",
    );
    const pair = found.items.find(
      (p) => [p.a, p.b].sort().join() === [`user_id:${first}`, `user_id:${second}`].sort().join(),
    );
    expect(pair).toBeDefined();
    expect(pair?.evidence.map((e) => e.kind)).toContain("email");
  }, 30_000);

  it("joins the second into the first: one profile, reads and late events forwarded, the automatic rule intact", async () => {
    const { first, second } = await janeTwice();
    // The shop's own alias of the two is refused (two known users), and remembered; the operator decides anew.
    const refused = await sendBatch([{ type: "alias", userId: first, previousId: second }]);
    expect(refused.warnings?.[0]?.reason).toMatch(/two known users are never merged/);
    const res = await merge({
      from: `user_id:${second}`,
      into: `user_id:${first}`,
      reason: "same person, two sign-ups",
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const body = (await res.json()) as { id: number; from: string; into: string; status: string };
    expect(body).toMatchObject({ from: `user_id:${second}`, into: `user_id:${first}`, status: "merged" });

    const person = await readJson<Profile>(`/v1/profiles/user_id:${first}`);
    // Two events of the first, three of the second, the refused alias, and the operator's.
    expect(person.counts.events).toBe(7);
    expect(person.affinities.map((a) => a.dimension)).toEqual(
      expect.arrayContaining(["category:shoes", "category:bags", "product:bag-2"]),
    );
    // Reading the second id reads the person it joined.
    expect((await readJson<Profile>(`/v1/profiles/user_id:${second}`)).userId).toBe(first);
    // What the second id sends later, from a new device, lands on the person, who keeps their own user id.
    const device = uid("device");
    await sendBatch([
      {
        type: "track",
        event: "Product Viewed",
        userId: second,
        anonymousId: device,
        properties: { product_id: "bag-3" },
      },
    ]);
    const later = await readJson<Profile>(`/v1/profiles/user_id:${first}`);
    expect(later.counts.events).toBe(8);
    expect(later.userId).toBe(first);
    // The new device joined the person, as any device of theirs would.
    expect((await readJson<Profile>(`/v1/profiles/anonymous_id:${device}`)).userId).toBe(first);

    // A write key's alias of another known user is still refused.
    const other = uid("other");
    await sendBatch([{ type: "identify", userId: other, traits: { name: "Someone Else" } }]);
    const alias = await sendBatch([{ type: "alias", userId: first, previousId: other }]);
    expect(alias.warnings?.[0]?.reason).toMatch(/two known users are never merged/);

    // Merging them again: they are one person already.
    const again = await merge({ from: `user_id:${second}`, into: `user_id:${first}` });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe("already_one_person");
  });

  it("reaches the warehouse as an alias event and an updated profile, and is audited without the key", async () => {
    const { first, second } = await janeTwice();
    const res = await merge({ from: `user_id:${second}`, into: `user_id:${first}`, reason: "support ticket 4411" });
    const { id } = (await res.json()) as { id: number };
    await runDurableObjectAlarm(actor(`user:${first}`));
    const aliasRows = () =>
      d1<{ profile_id: string; user_id: string; context: string }>(
        "SELECT profile_id, user_id, context FROM events WHERE type = 'alias' AND message_id LIKE ?",
        `operator-merge-${id}-%`,
      );
    await eventually(async () => (await aliasRows()).length === 1, "the merge's alias event in the warehouse");
    const [alias] = await aliasRows();
    expect(alias).toMatchObject({ profile_id: `user_id:${first}`, user_id: first });
    expect(JSON.parse(alias?.context ?? "{}").operatorMerge).toEqual({ id, reason: "support ticket 4411" });
    await eventually(
      async () =>
        (
          await d1<{ event_count: number }>("SELECT event_count FROM profiles WHERE profile_id = ?", `user_id:${first}`)
        )[0]?.event_count === 6,
      "the merged profile in the warehouse",
    );
    const [audit] = await d1<Record<string, unknown>>("SELECT * FROM profile_merges WHERE id = ?", id);
    expect(audit).toMatchObject({
      from_profile: `user_id:${second}`,
      into_profile: `user_id:${first}`,
      reason: "support ticket 4411",
      status: "merged",
    });
    expect(String(audit?.requested_by)).toMatch(/^key:[0-9a-f]{12}$/);
    expect(JSON.stringify(audit)).not.toContain(API_KEY);
  }, 30_000);

  it("erasing the person afterwards erases both ids", async () => {
    const { first, second } = await janeTwice();
    expect((await merge({ from: `user_id:${second}`, into: `user_id:${first}` })).status).toBe(200);
    const erased = await call(`/v1/profiles/user_id:${first}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(erased.status).toBe(200);
    expect(
      (await call(`/v1/profiles/user_id:${second}`, { headers: { authorization: `Bearer ${API_KEY}` } })).status,
    ).toBe(404);
    expect(await d1("SELECT 1 FROM profile_merges WHERE from_profile = ?", `user_id:${second}`)).toEqual([]);
  });

  it("answers bad requests clearly: unknown people 404, visitors and bad bodies 400, no key 401", async () => {
    const known = uid("known");
    await sendBatch([{ type: "identify", userId: known, traits: { name: "Known" } }]);
    const visitor = uid("visitor");
    await sendBatch([{ type: "page", anonymousId: visitor }]);
    const cases: [unknown, number, string][] = [
      [{ from: `user_id:${uid("nobody")}`, into: `user_id:${known}` }, 404, "profile_not_found"],
      [{ from: `anonymous_id:${visitor}`, into: `user_id:${known}` }, 400, "not_a_known_user"],
      [{ from: `user_id:${known}` }, 400, "invalid_merge_request"],
      [{ from: `user_id:${known}`, into: `user_id:${known}`, extra: 1 }, 400, "invalid_merge_request"],
      [{ from: `user_id:${known}`, into: `user_id:${known}` }, 409, "already_one_person"],
    ];
    for (const [body, status, code] of cases) {
      const res = await merge(body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
    }
    expect((await merge({ from: "user_id:a", into: "user_id:b" }, "wrong-key")).status).toBe(401);
  });
});
