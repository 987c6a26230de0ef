/**
 * `GET /v1/profiles?q=`: the console's search box, answered 200 always — the
 * person the id names from their actor (found the moment they arrive), and
 * people whose user id or e-mail starts with what was typed, from the
 * warehouse (a range of an index); what was typed is matched literally,
 * never as a pattern.
 */
import { env, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { profileSearchResponse } from "../../src/model/views";
import { call, eventually, read, sendBatch, uid } from "./helpers";

async function search(q: string) {
  const res = await read(`/v1/profiles?q=${encodeURIComponent(q)}`);
  expect(res.status).toBe(200);
  return profileSearchResponse.parse(await res.json()).items;
}

describe("GET /v1/profiles?q=", () => {
  it("needs the API key and something to search for", async () => {
    expect((await call("/v1/profiles?q=x")).status).toBe(401);
    const empty = await read("/v1/profiles?q=");
    expect(empty.status).toBe(400);
    expect(((await empty.json()) as { error: { code: string } }).error.code).toBe("invalid_query");
  });

  it("finds a person by e-mail from their actor at once, and someone unknown is an empty list", async () => {
    const user = uid("search");
    await sendBatch([{ type: "identify", userId: user, traits: { email: `${user}@example.com`, name: "Sam Search" } }]);
    const [found, ...rest] = await search(`${user}@example.com`);
    expect(found).toMatchObject({ id: `user_id:${user}`, userId: user, name: "Sam Search", match: "exact" });
    expect(rest).toEqual([]);
    expect(await search(`nobody-${uid()}@example.com`)).toEqual([]);
  });

  it("lists people whose user id or e-mail starts with the text, matched literally", async () => {
    const stem = uid("prefix").replace(/-/g, "");
    await sendBatch([
      { type: "identify", userId: `${stem}a`, traits: { email: `${stem}a@example.com` } },
      { type: "identify", userId: `${stem}b`, traits: { email: `${stem}b@example.com` } },
    ]);
    // The outbox flush is an alarm an hour away in this suite: run it now.
    for (const id of [`${stem}a`, `${stem}b`])
      await runDurableObjectAlarm(env.PROFILES.get(env.PROFILES.idFromName(`user:${id}`)));
    await eventually(
      async () =>
        ((await env.WAREHOUSE.prepare("SELECT COUNT(*) AS n FROM profiles WHERE user_id LIKE ?")
          .bind(`${stem}%`)
          .first<number>("n")) ?? 0) === 2,
      "both profiles in the warehouse",
    );
    const items = await search(stem);
    expect(items.map((i) => i.id).sort()).toEqual([`user_id:${stem}a`, `user_id:${stem}b`]);
    expect(items.every((i) => i.match === "prefix")).toBe(true);
    // A typed kind narrows the search to it; an exact-only search leaves the warehouse out.
    expect((await search(`user_id:${stem}`)).map((i) => i.id).sort()).toEqual([`user_id:${stem}a`, `user_id:${stem}b`]);
    expect((await search(`email:${stem}b@`)).map((i) => i.id)).toEqual([`user_id:${stem}b`]);
    const exactOnly = await read(`/v1/profiles?q=${stem}&match=exact`);
    expect(((await exactOnly.json()) as { items: unknown[] }).items).toEqual([]);
    // Wildcards are text here: "%" and "_" match only themselves.
    expect(await search("%")).toEqual([]);
    expect(await search(`${stem.slice(0, -1)}_`)).toEqual([]);
  });
});
