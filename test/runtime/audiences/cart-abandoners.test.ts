/**
 * A cart-abandoner audience, live: a person enters it when they add to their
 * basket, leaves when they order, and leaves on their own 24 hours after the
 * add (the actor's alarm) if they do neither. Each transition is an event on
 * their timeline, a stint in the warehouse, and one delivery to the
 * audience's webhook — which fails its first two attempts here.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import audiencesDoc from "../../../docs/audiences.md?raw";
import { sendBatch, uid } from "../helpers";
import { espHook, espReceived, eventually, putOk, readAudience, readJson, segmentsOf, stints } from "./helpers";

const SECRET = "cart-abandoner-webhook-secret";
const AUDIENCE = "cart-abandoners";
const HOUR = 3_600_000;
const hook = uid("hook");

async function hmacHex(secret: string, body: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(body)));
  return [...mac].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function track(userId: string, event: string, at = Date.now(), properties: Record<string, unknown> = {}) {
  return { type: "track", userId, event, timestamp: new Date(at).toISOString(), properties };
}

beforeAll(async () => {
  await putOk(`/v1/audiences/${AUDIENCE}`, {
    name: "Cart abandoners",
    rule: {
      all: [{ event: "Product Added", within: "24h" }, { not: { event: "Order Completed", within: "24h" } }],
    },
    destinations: [{ type: "webhook", url: espHook(hook, 2), secret: SECRET }],
  });
});

describe("a cart-abandoner audience", () => {
  it("takes in a person who adds to their basket and lets them go when they order", async () => {
    const user = uid("shopper");
    await sendBatch([track(user, "Product Added", Date.now(), { product_id: "p1", price: 20 })]);
    expect((await segmentsOf(user)).audiences).toEqual([AUDIENCE]);

    await sendBatch([track(user, "Order Completed", Date.now(), { order_id: "o1", total: 20 })]);
    expect((await segmentsOf(user)).audiences).toEqual([]);

    const profileId = `user_id:${user}`;
    await eventually(
      async () => (await stints(AUDIENCE, profileId)).some((s) => s.exited_at !== null),
      "the stint in D1",
    );
    const [stint, ...more] = await stints(AUDIENCE, profileId);
    expect(more).toEqual([]);
    expect(stint?.exited_at).toBeGreaterThanOrEqual(stint?.entered_at ?? Number.NaN);

    const timeline = await readJson<{ events: { name: string; properties: Record<string, unknown> }[] }>(
      `/v1/profiles/${profileId}/events?limit=10`,
    );
    const transitions = timeline.events.filter((e) => e.name.startsWith("Audience"));
    expect(transitions.map((e) => e.name)).toEqual(["Audience Exited", "Audience Entered"]);
    expect(transitions[0]?.properties).toEqual({ audience_key: AUDIENCE, audience_name: "Cart abandoners" });
  });

  it("delivers each transition once, signed, after two failed attempts, entry before exit", async () => {
    const user = uid("signed");
    await sendBatch([track(user, "Product Added")]);
    await sendBatch([track(user, "Order Completed")]);
    const mine = async () =>
      (await espReceived(hook)).filter((d) => (JSON.parse(d.body) as { userId: string }).userId === user);
    await eventually(async () => (await mine()).filter((d) => d.status === 200).length === 2, "both deliveries");

    const attempts = await mine();
    const delivered = attempts.filter((d) => d.status === 200);
    const ids = delivered.map((d) => d.messageId);
    expect(new Set(ids).size).toBe(2);
    // Two refusals, then the delivery, for each transition; nothing after it.
    for (const id of ids)
      expect(attempts.filter((d) => d.messageId === id).map((d) => d.status)).toEqual([503, 503, 200]);
    const events = delivered.map((d) => JSON.parse(d.body) as Record<string, unknown>);
    expect(events.map((e) => e.event)).toEqual(["Audience Entered", "Audience Exited"]);
    expect(events[0]).toMatchObject({
      type: "track",
      userId: user,
      properties: { audience_key: AUDIENCE, audience_name: "Cart abandoners" },
    });
    for (const d of delivered) expect(d.signature).toBe(`sha256=${await hmacHex(SECRET, d.body)}`);
    // The ESP answered; nothing more arrives for these transitions.
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await mine()).length).toBe(attempts.length);
  });

  it("lets a person go 24 hours after the add with no other event (the actor's alarm)", async () => {
    const user = uid("idle");
    // Added 24 h minus 3 s ago: the audience takes them in now and must let them go in 3 s, on its own.
    const addedAt = Date.now() - 24 * HOUR + 3_000;
    await sendBatch([track(user, "Product Added", addedAt)]);
    expect((await segmentsOf(user)).audiences).toEqual([AUDIENCE]);
    await eventually(async () => (await segmentsOf(user)).audiences.length === 0, "the exit by time", 20_000);
    const profileId = `user_id:${user}`;
    await eventually(async () => (await stints(AUDIENCE, profileId))[0]?.exited_at != null, "the exit in D1");
    const [stint] = await stints(AUDIENCE, profileId);
    // Not before the 24 hours were over.
    expect(stint?.exited_at).toBeGreaterThan(addedAt + 24 * HOUR);
  });

  it("never takes in someone whose add is older than 24 hours", async () => {
    const user = uid("late");
    await sendBatch([track(user, "Product Added", Date.now() - 25 * HOUR)]);
    expect((await segmentsOf(user)).audiences).toEqual([]);
  });
});

describe("a destination that keeps failing", () => {
  it("gets its last attempt, then the transition is a dead letter an operator can read", async () => {
    const down = uid("down");
    await putOk("/v1/audiences/gold-members", {
      name: "Gold members",
      rule: { trait: "plan", op: "eq", value: "gold" },
      destinations: [{ type: "webhook", url: espHook(down, 99), secret: SECRET }],
    });
    const user = uid("gold");
    await sendBatch([{ type: "identify", userId: user, traits: { plan: "gold" } }]);
    await eventually(
      async () => (await readAudience("gold-members")).deliveries?.dead === 1,
      "the dead letter in the warehouse",
    );
    const report = (await readAudience("gold-members")).deliveries;
    expect(report?.delivered).toBe(0);
    expect(report?.deadLetters[0]).toMatchObject({ lastError: "HTTP 503" });
    // Four attempts (AUDIENCE_WEBHOOK_ATTEMPTS in vitest.audiences.config.mts), then no more.
    expect((await espReceived(down)).map((d) => d.status)).toEqual([503, 503, 503, 503]);
  });
});

describe("the warehouse query docs/audiences.md gives", () => {
  it("answers who was in the audience at a moment: in while the stint lasted, out before and after", async () => {
    const block = /```sql\n([\s\S]*?)```/.exec(audiencesDoc)?.[1] ?? "";
    // The first statement of the first block: who was in at :d.
    const whoWasIn = `${block.split(";")[0]?.replace(/^--.*\n/gm, "")};`.replace(/:d/g, "?1");
    expect(whoWasIn).toContain("audience_memberships");
    const user = uid("stint");
    await sendBatch([track(user, "Product Added")]);
    await sendBatch([track(user, "Order Completed")]);
    const profileId = `user_id:${user}`;
    await eventually(async () => (await stints(AUDIENCE, profileId))[0]?.exited_at != null, "the stint in D1");
    const [stint] = await stints(AUDIENCE, profileId);
    const members = async (d: number) => {
      const { results } = await env.WAREHOUSE.prepare(whoWasIn).bind(d).all<{ profile_id: string }>();
      return results.map((r) => r.profile_id);
    };
    const entered = stint?.entered_at ?? 0;
    const exited = stint?.exited_at ?? 0;
    expect(await members(entered - 1)).not.toContain(profileId);
    expect(await members(entered)).toContain(profileId);
    if (exited > entered) expect(await members(exited - 1)).toContain(profileId);
    expect(await members(exited)).not.toContain(profileId);
  });
});
