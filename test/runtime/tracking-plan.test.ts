/**
 * The tracking plan in the runtime (DESIGN §9): each kind of violation under
 * each policy — flagged messages stored and marked, blocked ones quarantined
 * with `tracking_plan_violation` — the counts by event, property and kind,
 * a blocked message replayed once the plan is fixed, and what a bad plan is
 * told. The plan is one per warehouse, and each test file has its own D1, so
 * the tests here run in order and each sets the plan it needs.
 */
import { describe, expect, it } from "vitest";
import { API_KEY, BROWSER_KEY, basic, call, eventually, ingest, read, readJson, sendBatch, uid } from "./helpers";

const productViewed = {
  type: "object",
  required: ["product_id", "price"],
  properties: {
    product_id: { type: "string" },
    price: { type: "number", minimum: 0 },
    currency: { type: "string", pattern: "^[A-Z]{3}$" },
  },
};

/** Flagged messages are counted after they are stored (in the request's waitUntil): read once they are. */
async function violationsOnce(path: string, ready: (v: Violations) => boolean): Promise<Violations> {
  let last: Violations | null = null;
  await eventually(async () => {
    last = await readJson<Violations>(path);
    return ready(last);
  }, `violations at ${path}`);
  return last as unknown as Violations;
}

function putPlan(plan: unknown) {
  return call("/v1/tracking-plan", {
    method: "PUT",
    headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
    body: JSON.stringify(plan),
  });
}

async function setPlan(plan: Record<string, unknown>) {
  const res = await putPlan(plan);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as { version: number };
}

interface Violations {
  version: number;
  counts: { event: string; property: string; kind: string; count: number }[];
  items: {
    messageId: string;
    event: string;
    action: string;
    userId: string | null;
    violations: { kind: string; property: string }[];
  }[];
}

interface Quarantined {
  items: { id: number; code: string; reason: string; payload: Record<string, unknown> }[];
}

async function storedEvents(userId: string) {
  const page = await readJson<{ events: { messageId: string; context: Record<string, unknown> }[] }>(
    `/v1/profiles/user_id:${userId}/events?limit=50`,
  );
  return page.events;
}

const viewed = (userId: string, messageId: string, properties: Record<string, unknown>) => ({
  type: "track",
  event: "Product Viewed",
  userId,
  messageId,
  properties,
});

describe("a tracking plan", () => {
  it("flags violations and unplanned events: stored, marked on the event and counted", async () => {
    const { version } = await setPlan({
      events: { "Product Viewed": productViewed },
      traits: { type: "object", properties: { email: { type: "string", format: "email" } } },
      unplanned: "flag",
      violations: "flag",
    });
    const user = uid("flag");
    const res = await sendBatch([
      viewed(user, `${user}-ok`, { product_id: "p1", price: 10 }),
      viewed(user, `${user}-missing`, { product_id: "p1" }),
      viewed(user, `${user}-type`, { product_id: "p1", price: "10" }),
      viewed(user, `${user}-format`, { product_id: "p1", price: 1, currency: "euro" }),
      viewed(user, `${user}-extra`, { product_id: "p1", price: 1, colour: "red" }),
      { type: "track", event: "Coupon Entered", userId: user, messageId: `${user}-unplanned` },
      { type: "identify", userId: user, messageId: `${user}-traits`, traits: { email: "nobody" } },
    ]);
    expect(res).toMatchObject({ accepted: 7, rejected: [] });

    const events = await storedEvents(user);
    expect(events).toHaveLength(7);
    const marks = Object.fromEntries(
      events.map((e) => [
        e.messageId.slice(user.length + 1),
        (e.context.trackingPlan as { violations: { kind: string; property: string }[] } | undefined)?.violations.map(
          (v) => `${v.kind}:${v.property}`,
        ) ?? null,
      ]),
    );
    expect(marks).toEqual({
      ok: null,
      missing: ["missing_required:price"],
      type: ["wrong_type:price"],
      format: ["format:currency"],
      extra: ["unplanned_property:colour"],
      unplanned: ["unplanned_event:"],
      traits: ["format:email"],
    });

    const v = await violationsOnce("/v1/tracking-plan/violations?limit=10", (x) => x.items.length === 6);
    expect(v.version).toBe(version);
    expect(v.counts.map((c) => [c.event, c.property, c.kind, c.count]).sort()).toEqual(
      [
        ["Coupon Entered", "", "unplanned_event", 1],
        ["Product Viewed", "colour", "unplanned_property", 1],
        ["Product Viewed", "currency", "format", 1],
        ["Product Viewed", "price", "missing_required", 1],
        ["Product Viewed", "price", "wrong_type", 1],
        ["identify", "email", "format", 1],
      ].sort(),
    );
    expect(v.items).toHaveLength(6);
    expect(v.items.every((i) => i.action === "flag" && i.userId === user)).toBe(true);
    const one = await readJson<Violations>("/v1/tracking-plan/violations?event=Coupon%20Entered");
    expect(one.counts).toEqual([expect.objectContaining({ event: "Coupon Entered", kind: "unplanned_event" })]);
    expect(one.items.map((i) => i.messageId)).toEqual([`${user}-unplanned`]);
  });

  it("blocks by kind: violations quarantined with tracking_plan_violation, unplanned ones only flagged", async () => {
    await setPlan({ events: { "Product Viewed": productViewed }, unplanned: "flag", violations: "block" });
    const user = uid("block");
    const res = await sendBatch([
      viewed(user, `${user}-ok`, { product_id: "p1", price: 10 }),
      viewed(user, `${user}-missing`, { product_id: "p1" }),
      viewed(user, `${user}-extra`, { product_id: "p1", price: 1, colour: "red" }),
      { type: "track", event: "Coupon Entered", userId: user, messageId: `${user}-unplanned` },
    ]);
    expect(res.accepted).toBe(3);
    expect(res.rejected).toEqual([
      {
        index: 1,
        code: "tracking_plan_violation",
        reason:
          "Product Viewed breaks the tracking plan (missing_required price); fix the sender or the plan, then replay it",
      },
    ]);
    expect((await storedEvents(user)).map((e) => e.messageId).sort()).toEqual(
      [`${user}-ok`, `${user}-extra`, `${user}-unplanned`].sort(),
    );
    const q = await readJson<Quarantined>("/v1/quarantine?reason=tracking_plan_violation&limit=50");
    const mine = q.items.filter((i) => i.payload.userId === user);
    expect(mine).toHaveLength(1);
    expect(mine[0]?.payload.messageId).toBe(`${user}-missing`);
  });

  it("blocks unplanned events when told to, and lets everything through under allow", async () => {
    await setPlan({ events: { "Product Viewed": productViewed }, unplanned: "block", violations: "allow" });
    const user = uid("strict");
    const res = await sendBatch([
      { type: "track", event: "Coupon Entered", userId: user, messageId: `${user}-unplanned` },
      viewed(user, `${user}-bad`, { price: "free" }),
    ]);
    expect(res.accepted).toBe(1);
    expect(res.rejected[0]).toMatchObject({ index: 0, code: "tracking_plan_violation" });
    const [bad] = await storedEvents(user);
    expect(bad?.messageId).toBe(`${user}-bad`);
    expect(bad?.context.trackingPlan).toBeUndefined();
  });

  it("replays a blocked message once the plan is fixed, and it is stored once", async () => {
    await setPlan({ events: { "Product Viewed": productViewed }, unplanned: "allow", violations: "block" });
    const user = uid("replay");
    const sent = viewed(user, `${user}-m`, { product_id: "p9", price: 5, currency: "eur" });
    const res = await sendBatch([sent]);
    expect(res.rejected[0]?.code).toBe("tracking_plan_violation");
    const q = await readJson<Quarantined>("/v1/quarantine?reason=tracking_plan_violation&limit=50");
    const row = q.items.find((i) => i.payload.userId === user);
    expect(row).toBeDefined();

    const replay = () =>
      call("/v1/quarantine/replay", {
        method: "POST",
        headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ items: [{ id: row?.id }] }),
      });
    // Still blocked under the same plan: it stays in the quarantine, stored nowhere.
    const early = (await (await replay()).json()) as { results: { status: string }[] };
    expect(early.results[0]?.status).toBe("rejected");
    expect(await read(`/v1/profiles/user_id:${user}`).then((r) => r.status)).toBe(404);

    const fixed = structuredClone(productViewed);
    fixed.properties.currency = { type: "string", pattern: "^[A-Za-z]{3}$" };
    await setPlan({ events: { "Product Viewed": fixed }, unplanned: "allow", violations: "block" });
    const later = (await (await replay()).json()) as { results: { status: string; messageId: string }[] };
    expect(later.results[0]).toMatchObject({ status: "replayed", messageId: `${user}-m` });
    const again = (await (await replay()).json()) as { results: { status: string }[] };
    expect(again.results[0]?.status).toBe("already_replayed");
    expect((await storedEvents(user)).map((e) => e.messageId)).toEqual([`${user}-m`]);
  });

  it("replays a browser key's blocked message with a browser key's trust: no one's traits are taken over", async () => {
    const victim = uid("victim");
    await sendBatch([{ type: "identify", userId: victim, traits: { email: `${victim}@example.com`, plan: "gold" } }]);
    await setPlan({
      events: {},
      traits: { type: "object", properties: { plan: { enum: ["free", "gold"] } } },
      unplanned: "allow",
      violations: "block",
    });
    // Someone with the public key claims the victim's profile, with a plan the schema refuses: blocked.
    const res = await ingest(
      "/v1/batch",
      { batch: [{ type: "identify", userId: victim, traits: { email: "attacker@example.com", plan: "x" } }] },
      { authorization: basic(BROWSER_KEY) },
    );
    expect(((await res.json()) as { rejected: { code: string }[] }).rejected[0]?.code).toBe("tracking_plan_violation");
    const q = await readJson<Quarantined>("/v1/quarantine?reason=tracking_plan_violation&limit=50");
    const row = q.items.find((i) => i.payload.userId === victim);
    // The plan is relaxed and the row replayed: it goes in as what it was, an unverified browser claim.
    await setPlan({ events: {}, unplanned: "allow", violations: "allow" });
    const replayed = await call("/v1/quarantine/replay", {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ items: [{ id: row?.id }] }),
    });
    expect(((await replayed.json()) as { results: { status: string }[] }).results[0]?.status).toBe("replayed");
    const profile = await readJson<{ traits: Record<string, unknown> }>(`/v1/profiles/user_id:${victim}`);
    expect(profile.traits).toMatchObject({ email: `${victim}@example.com`, plan: "gold" });
  });

  it("counts under the plan in force: a new version starts from zero, the old one still answers", async () => {
    const first = await setPlan({ events: {}, unplanned: "flag", violations: "flag" });
    const user = uid("versions");
    await sendBatch([{ type: "track", event: "Anything", userId: user }]);
    const second = await setPlan({ events: {}, unplanned: "flag", violations: "flag" });
    expect(second.version).toBeGreaterThan(first.version);
    expect((await readJson<Violations>("/v1/tracking-plan/violations")).counts).toEqual([]);
    const old = await violationsOnce(
      `/v1/tracking-plan/violations?version=${first.version}`,
      (x) => x.counts.length > 0,
    );
    expect(old.counts).toEqual([expect.objectContaining({ event: "Anything", kind: "unplanned_event", count: 1 })]);
  });

  it("counts a resent message once, and keeps a few samples of a flood of made-up names", async () => {
    const { version } = await setPlan({ events: {}, unplanned: "flag", violations: "flag" });
    const user = uid("flood");
    const batch = Array.from({ length: 300 }, (_, i) => ({
      type: "track",
      event: `made-up-${i}`,
      userId: user,
      messageId: `${user}-${i}`,
    }));
    await sendBatch(batch);
    const total = (v: Violations) => v.counts.reduce((n, c) => n + c.count, 0);
    const first = await violationsOnce("/v1/tracking-plan/violations?limit=500", (v) => total(v) === 300);
    expect(first.version).toBe(version);
    expect(first.counts).toHaveLength(300);
    // One request keeps at most 20 of its offending messages.
    expect(first.items).toHaveLength(20);
    // The same messages again (a retry): stored once, counted once.
    await sendBatch(batch);
    await sendBatch([{ type: "track", event: "made-up-0", userId: user, messageId: `${user}-new` }]);
    const after = await violationsOnce("/v1/tracking-plan/violations?limit=500", (v) => total(v) === 301);
    expect(after.counts.find((c) => c.event === "made-up-0")?.count).toBe(2);
  });

  it("forgets an erased person's offending messages, and only theirs", async () => {
    await setPlan({ events: {}, unplanned: "flag", violations: "flag" });
    const [gone, stays] = [uid("erased"), uid("bystander")];
    await sendBatch([
      { type: "track", event: "Stray", userId: gone, messageId: `${gone}-1` },
      // The bystander's message names the erased person's id in a property: it is not theirs.
      { type: "track", event: "Stray", userId: stays, messageId: `${stays}-1`, properties: { referrer: gone } },
    ]);
    const before = await violationsOnce("/v1/tracking-plan/violations?event=Stray", (x) => x.items.length === 2);
    expect(before.items.map((i) => i.userId).sort()).toEqual([gone, stays].sort());
    const erased = await call(`/v1/profiles/user_id:${gone}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(erased.status).toBe(200);
    const after = await readJson<Violations>("/v1/tracking-plan/violations?event=Stray");
    expect(after.items.map((i) => i.userId)).toEqual([stays]);
  });

  it("answers a bad plan with 400 naming the field, and a missing one with 404", async () => {
    const cases: [unknown, string, string][] = [
      [{ events: {}, unplanned: "drop", violations: "flag" }, "unplanned", "invalid_tracking_plan"],
      [{ events: { A: 3 }, unplanned: "flag", violations: "flag" }, "events.A", "invalid_tracking_plan"],
      [
        { events: { A: { $ref: "https://elsewhere.example/a.json" } }, unplanned: "flag", violations: "flag" },
        "events.A.$ref",
        "invalid_tracking_plan",
      ],
      [
        { events: { A: { properties: { x: { pattern: "(" } } } }, unplanned: "flag", violations: "flag" },
        "events.A.properties.x.pattern",
        "invalid_tracking_plan",
      ],
    ];
    for (const [plan, field, code] of cases) {
      const res = await putPlan(plan);
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: { code: string; details: { fields: string[] } } };
      expect(body.error.code).toBe(code);
      expect(body.error.details.fields).toEqual([field]);
    }
    const noKey = await call("/v1/tracking-plan", { method: "PUT", body: "{}" });
    expect(noKey.status).toBe(401);

    const del = await call("/v1/tracking-plan", { method: "DELETE", headers: { authorization: `Bearer ${API_KEY}` } });
    expect(del.status).toBe(204);
    expect((await read("/v1/tracking-plan")).status).toBe(404);
    // Without a plan nothing is checked.
    const user = uid("none");
    expect((await sendBatch([{ type: "track", event: "Whatever", userId: user }])).accepted).toBe(1);
  });
});
