/**
 * Computed traits and audiences as a marketer and an ESP template see them:
 * values on the profile and in the merge JSON, audiences on computed traits
 * and consent, a visitor's audiences when they sign in, and the API's answers
 * to definitions it cannot take.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { API_KEY, call, read, sendBatch, uid } from "../helpers";
import { espHook, eventually, put, putOk, readJson, segmentsOf, stints } from "./helpers";

const HOUR = 3_600_000;

function track(
  who: { userId?: string; anonymousId?: string },
  event: string,
  properties: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
) {
  return { type: "track", ...who, event, properties, ...extra };
}

const refused = { consent: { categoryPreferences: { personalization: false } } };
const granted = { consent: { categoryPreferences: { personalization: true } } };

beforeAll(async () => {
  await putOk("/v1/computed-traits/cart_value_7d", {
    aggregation: "sum",
    event: "Product Added",
    property: "price",
    window: "7d",
  });
  await putOk("/v1/computed-traits/orders", { aggregation: "count", event: "Order Completed", window: "lifetime" });
  await putOk("/v1/computed-traits/favourite_category", {
    aggregation: "most_frequent",
    event: "Product Viewed",
    property: "category",
    window: "30d",
  });
  await putOk("/v1/audiences/repeat-buyers", {
    name: "Repeat buyers",
    rule: { computed: "orders", op: "gte", value: 2 },
  });
  await putOk("/v1/audiences/shoe-browsers", {
    name: "Shoe browsers (personalized)",
    rule: {
      all: [{ consent: "personalization" }, { event: "Product Viewed", within: "7d", where: { category: "shoes" } }],
    },
  });
});

describe("computed traits", () => {
  it("are on the profile and in the merge JSON, as of each event", async () => {
    const user = uid("ct");
    await sendBatch([
      track({ userId: user }, "Product Added", { price: 30 }),
      track({ userId: user }, "Product Added", { price: "12.5" }),
      // Eight days ago: outside the 7-day sum.
      track(
        { userId: user },
        "Product Added",
        { price: 100 },
        { timestamp: new Date(Date.now() - 8 * 24 * HOUR).toISOString() },
      ),
      track({ userId: user }, "Product Viewed", { category: "shoes" }),
      track({ userId: user }, "Product Viewed", { category: "shirts" }),
      track({ userId: user }, "Product Viewed", { category: "shoes" }),
      track({ userId: user }, "Order Completed", { total: 42.5 }),
    ]);
    const profile = await segmentsOf(user);
    expect(profile.computedTraits).toEqual({ cart_value_7d: 42.5, orders: 1, favourite_category: "shoes" });

    const merge = await readJson<{ computedTraits: Record<string, unknown>; audiences: string[] }>(`/v1/merge/${user}`);
    expect(merge.computedTraits).toEqual(profile.computedTraits);
    expect(merge.audiences).toEqual(["shoe-browsers"]);

    await sendBatch([track({ userId: user }, "Order Completed", { total: 10 })]);
    expect(await segmentsOf(user)).toMatchObject({
      computedTraits: { orders: 2 },
      audiences: ["repeat-buyers", "shoe-browsers"],
    });
  });

  it("start from what the actor holds when a trait is defined after the events", async () => {
    const user = uid("late-trait");
    await sendBatch([
      track({ userId: user }, "Product Viewed", { brand: "Stride" }),
      track({ userId: user }, "Product Viewed", { brand: "Peak" }),
    ]);
    await putOk("/v1/computed-traits/brands_seen", {
      aggregation: "unique_count",
      event: "Product Viewed",
      property: "brand",
      window: "lifetime",
    });
    // The next read after the definition already counts the two earlier views.
    expect((await segmentsOf(user)).computedTraits.brands_seen).toBe(2);
    await sendBatch([track({ userId: user }, "Product Viewed", { brand: "Stride" })]);
    expect((await segmentsOf(user)).computedTraits.brands_seen).toBe(2);
  });

  it("an unknown person's merge JSON has none", async () => {
    const merge = await readJson<{ computedTraits: unknown; audiences: unknown }>(`/v1/merge/${uid("nobody")}`);
    expect(merge).toMatchObject({ computedTraits: {}, audiences: [] });
  });
});

describe("consent", () => {
  it("keeps a person who refused personalization out of an audience that needs it", async () => {
    const no = uid("refused");
    const yes = uid("granted");
    await sendBatch([track({ userId: no }, "Product Viewed", { category: "shoes" }, { context: refused })]);
    await sendBatch([track({ userId: yes }, "Product Viewed", { category: "shoes" }, { context: granted })]);
    expect((await segmentsOf(no)).audiences).toEqual([]);
    expect((await segmentsOf(yes)).audiences).toEqual(["shoe-browsers"]);
  });

  it("lets a member go the moment they refuse", async () => {
    const user = uid("changes-mind");
    await sendBatch([track({ userId: user }, "Product Viewed", { category: "shoes" })]);
    expect((await segmentsOf(user)).audiences).toEqual(["shoe-browsers"]);
    await sendBatch([{ type: "identify", userId: user, traits: {}, context: refused }]);
    expect((await segmentsOf(user)).audiences).toEqual([]);
  });
});

describe("a visitor who signs in", () => {
  it("leaves their audiences as a visitor and is evaluated as the person", async () => {
    const anonymousId = uid("anon");
    const user = uid("signed-in");
    await sendBatch([track({ anonymousId }, "Product Viewed", { category: "shoes" })]);
    expect((await segmentsOf(`anonymous_id:${anonymousId}`)).audiences).toEqual(["shoe-browsers"]);
    await sendBatch([{ type: "identify", userId: user, anonymousId, traits: { email: `${user}@example.com` } }]);
    expect((await segmentsOf(user)).audiences).toEqual(["shoe-browsers"]);
    await eventually(
      async () => (await stints("shoe-browsers", `anonymous_id:${anonymousId}`))[0]?.exited_at != null,
      "the visitor's exit in D1",
    );
    await eventually(
      async () => (await stints("shoe-browsers", `user_id:${user}`)).length === 1,
      "the person's entry in D1",
    );
  });
});

describe("the API", () => {
  it("answers a rule it cannot evaluate with the path of the problem", async () => {
    const res = await put("/v1/audiences/broken", {
      name: "Broken",
      rule: {
        all: [
          { event: "Product Added", within: "24h" },
          { event: "Order Completed", within: "2w" },
        ],
      },
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("invalid_audience");
    expect(body.error.message).toContain("rule.all.1.within");
  });

  it("refuses a rule on a computed trait nobody defined, and a definition missing its property", async () => {
    const res = await put("/v1/audiences/ghost", {
      name: "Ghost",
      rule: { computed: "ghost_trait", op: "gt", value: 1 },
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain(
      "PUT /v1/computed-traits/ghost_trait",
    );
    const trait = await put("/v1/computed-traits/total", {
      aggregation: "sum",
      event: "Order Completed",
      window: "7d",
    });
    expect(trait.status).toBe(400);
    expect(((await trait.json()) as { error: { message: string } }).error.message).toContain("sum needs a property");
  });

  it("keeps a computed trait an audience reads", async () => {
    const res = await call("/v1/computed-traits/orders", {
      method: "DELETE",
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain('"repeat-buyers"');
  });

  it("never shows a destination's secret", async () => {
    await putOk("/v1/audiences/with-hook", {
      name: "With hook",
      rule: { trait: "plan", op: "eq", value: "gold" },
      destinations: [{ type: "webhook", url: espHook(uid("gold-hook")), secret: "a-secret-nobody-reads" }],
    });
    const text = await (await read("/v1/audiences/with-hook")).text();
    expect(text).toContain("/hooks/gold-hook-");
    expect(text).not.toContain("a-secret-nobody-reads");
    expect(await (await read("/v1/audiences")).text()).not.toContain("a-secret-nobody-reads");
  });

  it("needs the secret API key", async () => {
    expect((await call("/v1/audiences")).status).toBe(401);
    const res = await call("/v1/audiences/x", {
      method: "PUT",
      headers: { authorization: "Bearer test-write-key" },
      body: "{}",
    });
    expect(res.status).toBe(401);
  });

  it("lists members a page at a time and ends stints when an audience is deleted", async () => {
    const users = [uid("gold"), uid("gold"), uid("gold")];
    await sendBatch(users.map((userId) => ({ type: "identify", userId, traits: { plan: "gold" } })));
    await eventually(
      async () => (await readJson<{ size: number }>("/v1/audiences/with-hook")).size === 3,
      "three members",
    );
    const first = await readJson<{ items: { profileId: string }[]; next: string }>(
      "/v1/audiences/with-hook/members?limit=2",
    );
    expect(first.items).toHaveLength(2);
    const second = await readJson<{ items: { profileId: string }[]; next: string | null }>(
      `/v1/audiences/with-hook/members?limit=2&cursor=${encodeURIComponent(first.next)}`,
    );
    expect(second.next).toBeNull();
    expect([...first.items, ...second.items].map((m) => m.profileId).sort()).toEqual(
      users.map((u) => `user_id:${u}`).sort(),
    );
    expect((await read("/v1/audiences/with-hook/members?cursor=nonsense")).status).toBe(400);

    const del = await call("/v1/audiences/with-hook", {
      method: "DELETE",
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(del.status).toBe(204);
    const open = await env.WAREHOUSE.prepare(
      "SELECT COUNT(*) AS n FROM audience_memberships WHERE audience_key = 'with-hook' AND exited_at IS NULL",
    ).first<{ n: number }>();
    expect(open?.n).toBe(0);
    expect((await read("/v1/audiences/with-hook")).status).toBe(404);
  });
});

describe("a person who sends long, varied values", () => {
  it("keeps being ingested: past the state's budget the largest trait forgets its distinct values", async () => {
    for (let i = 0; i < 10; i++) {
      await putOk(`/v1/computed-traits/labels_${i}`, {
        aggregation: "unique_count",
        event: "Label Seen",
        property: "label",
        window: "1h",
      });
    }
    const user = uid("flood");
    // Each value is 100 control characters: six characters apiece as JSON, seven once stored inside the state.
    const value = (i: number) => `${i}`.padStart(100, "\u0001");
    const at = (i: number) => new Date(Date.now() - (i % 60) * 60_000).toISOString();
    for (let first = 0; first < 300; first += 100) {
      const batch = Array.from({ length: 100 }, (_, j) =>
        track({ userId: user }, "Label Seen", { label: value(first + j) }, { timestamp: at(first + j) }),
      );
      const res = await sendBatch(batch);
      expect(res.accepted).toBe(100);
    }
    const profile = await segmentsOf(user);
    expect(typeof profile.computedTraits.labels_0).toBe("number");
    await sendBatch([track({ userId: user }, "Label Seen", { label: "short" })]);
    expect((await segmentsOf(user)).computedTraits.labels_9).toBeGreaterThan(0);
  });
});
