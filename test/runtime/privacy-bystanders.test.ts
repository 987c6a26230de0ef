/**
 * People kept apart: erasing or exporting a person touches their own data
 * and no one else's, even when other people's data holds the same strings —
 * an order id equal to the person's user id, a coupon code equal to it, an
 * assistant's e-mail trait equal to the person's address. Every store is
 * scanned for each bystander before and after: their actor, every D1 table
 * (events, profiles, quarantine, dead letters) and every lake line.
 */
import { createMessageBatch, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import worker from "../../src/index";
import { DEAD_LETTER_QUEUE } from "../../src/sink/consumer";
import { call, eventually, ingest, read, sendBatch, uid } from "./helpers";

const auth = { authorization: "Bearer test-api-key" };
const actor = (name: string) => env.PROFILES.get(env.PROFILES.idFromName(name));

/** The person to be erased: user `1001`, whose id and address also appear inside other people's data. */
const PERSON = { userId: "1001", email: "ev1@example.com", firstName: "Evelyn", anonymousId: uid("anon") };
/** A: an order whose id is `1001`. B: a coupon `1001`. C: an assistant whose trait is the person's address. */
const A = uid("buyer");
const B = uid("browser");
const C = uid("boss");
const BYSTANDERS = [A, B, C];

/** Every row of every table of an actor, as text. */
function actorText(name: string): Promise<string> {
  return runInDurableObject(actor(name), (_i, state) => {
    const tables = state.storage.sql
      .exec<{ name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'",
      )
      .toArray();
    return JSON.stringify(tables.map((t) => state.storage.sql.exec(`SELECT * FROM "${t.name}"`).toArray()));
  });
}

/** Every row of every D1 table, by table. */
async function warehouseRows(): Promise<Record<string, Record<string, unknown>[]>> {
  const { results } = await env.WAREHOUSE.prepare(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name NOT LIKE 'd1_%'",
  ).all<{ name: string }>();
  const out: Record<string, Record<string, unknown>[]> = {};
  for (const t of results) out[t.name] = (await env.WAREHOUSE.prepare(`SELECT * FROM "${t.name}"`).all()).results;
  return out;
}

async function d1Count(query: string): Promise<number> {
  return (await env.WAREHOUSE.prepare(query).first<{ n: number }>())?.n ?? 0;
}

/** Every line of every lake object. */
async function lakeLines(): Promise<string[]> {
  const listed = await env.LAKE.list({ prefix: "" });
  const bodies = await Promise.all(listed.objects.map(async (o) => (await env.LAKE.get(o.key))?.text() ?? ""));
  return bodies.flatMap((b) => b.split("\n").filter(Boolean));
}

/** What each store holds that mentions this bystander's (unique) id. */
async function holdingsOf(id: string) {
  const tables = await warehouseRows();
  const mine = (rows: Record<string, unknown>[] = []) => rows.filter((r) => JSON.stringify(r).includes(id));
  return {
    actor: await actorText(`user:${id}`),
    events: mine(tables.events),
    profiles: mine(tables.profiles),
    quarantine: mine(tables.bad_events),
    deadLetters: mine(tables.dead_letters),
    lake: (await lakeLines()).filter((l) => l.includes(id)).sort(),
  };
}

const isPersons = (line: string) => {
  const l = JSON.parse(line) as { userId: string | null; anonymousId: string | null };
  return l.userId === PERSON.userId || l.anonymousId === PERSON.anonymousId;
};

/** A change message that failed every retry, as the dead-letter queue hands it over. */
async function deadLetter(userId: string, properties: Record<string, unknown>) {
  const at = Date.now();
  const body = JSON.stringify({
    v: 1,
    actor: `user:${userId}`,
    firstSeq: 900,
    lastSeq: 900,
    records: [
      {
        kind: "event",
        profileId: `user_id:${userId}`,
        version: 900,
        at,
        event: {
          messageId: uid("dead"),
          userId,
          anonymousId: null,
          type: "track",
          name: "Order Completed",
          properties,
        },
      },
    ],
  });
  const batch = createMessageBatch(DEAD_LETTER_QUEUE, [{ id: uid("dl"), timestamp: new Date(), attempts: 6, body }]);
  await worker.queue(batch as MessageBatch<unknown>, env);
}

const ACTORS = [`user:${PERSON.userId}`, `anon:${PERSON.anonymousId}`, ...BYSTANDERS.map((id) => `user:${id}`)];

beforeAll(async () => {
  await sendBatch([
    { type: "page", anonymousId: PERSON.anonymousId, properties: { url: "https://shop.example/" } },
    {
      type: "identify",
      userId: PERSON.userId,
      anonymousId: PERSON.anonymousId,
      traits: { email: PERSON.email, firstName: PERSON.firstName },
    },
    { type: "track", userId: PERSON.userId, event: "Product Viewed", properties: { product_id: "sku-ev" } },
    { type: "track", userId: A, event: "Order Completed", properties: { order_id: "1001", revenue: 20 } },
    { type: "track", userId: B, event: "Product Viewed", properties: { product_id: "sku-b", coupon: "1001" } },
    { type: "identify", userId: C, traits: { firstName: "Cora", assistant_email: PERSON.email } },
  ]);
  // One quarantined message each (a track without an event name), carrying the same look-alike values.
  const bad = await ingest("/v1/batch", {
    batch: [
      { type: "track", userId: PERSON.userId, properties: { note: "bad" } },
      { type: "identify", traits: { email: PERSON.email, firstName: PERSON.firstName } },
      { type: "track", userId: A, properties: { order_id: "1001" } },
      { type: "track", userId: B, properties: { coupon: "1001" } },
      { type: "track", userId: C, traits: { firstName: "Cora", assistant_email: PERSON.email } },
    ],
  });
  expect(((await bad.json()) as { rejected: unknown[] }).rejected).toHaveLength(5);
  for (const name of ACTORS) await runDurableObjectAlarm(actor(name));
  await eventually(
    async () => (await d1Count("SELECT COUNT(*) AS n FROM events WHERE lake_key IS NOT NULL")) >= 6,
    "six events in D1 and the lake",
  );
  // Wait for the consumer's confirmations, so the actors' outboxes stop changing before they are compared.
  await eventually(async () => {
    for (const name of ACTORS) {
      const left = await runInDurableObject(
        actor(name),
        (_i, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox").one().n,
      ).catch(() => 0);
      if (left > 0) return false;
    }
    return true;
  }, "the outboxes to be confirmed");
  await deadLetter(PERSON.userId, { note: "the person's own" });
  await deadLetter(A, { order_id: "1001" });
  await deadLetter(B, { coupon: "1001" });
  await deadLetter(C, { assistant_email: PERSON.email });
});

describe("erasure and export keep other people apart", () => {
  it("an export of the person holds none of the bystanders' values", async () => {
    for (const id of [`user_id:${PERSON.userId}`, `email:${PERSON.email}`]) {
      const res = await read(`/v1/profiles/${id}/export`);
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).toContain(PERSON.firstName);
      for (const value of ["assistant_email", "Cora", "coupon", ...BYSTANDERS]) expect(text).not.toContain(value);
    }
  });

  it("erasing the person removes only their own lines and rows, in every store", async () => {
    const before = await Promise.all(BYSTANDERS.map(holdingsOf));
    for (const held of before) {
      for (const store of [held.events, held.profiles, held.quarantine, held.deadLetters, held.lake]) {
        expect(store.length).toBeGreaterThan(0);
      }
    }
    const personsLines = (await lakeLines()).filter(isPersons).length;
    expect(personsLines).toBe(3);

    const res = await call(`/v1/profiles/user_id:${PERSON.userId}`, { method: "DELETE", headers: auth });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; removed: { lakeLinesRemoved: number } };
    expect(body.status).toBe("FINISHED");
    expect(body.removed.lakeLinesRemoved).toBe(personsLines);

    // Every bystander holds exactly what they held before, store by store.
    const after = await Promise.all(BYSTANDERS.map(holdingsOf));
    expect(after).toEqual(before);

    // The person is gone from every store.
    const tables = await warehouseRows();
    const lines = await lakeLines();
    expect(lines.filter(isPersons)).toEqual([]);
    expect(tables.events?.filter((e) => e.user_id === PERSON.userId || e.profile_id === `user_id:1001`)).toEqual([]);
    expect(tables.profiles?.filter((p) => p.profile_id === `user_id:${PERSON.userId}`)).toEqual([]);
    const quarantined = (tables.bad_events ?? []).map((r) => JSON.parse(String(r.payload)));
    expect(quarantined.filter((p) => p.userId === PERSON.userId || p.traits?.email === PERSON.email)).toEqual([]);
    expect(tables.dead_letters?.filter((d) => String(d.body).includes(`"user:${PERSON.userId}"`))).toEqual([]);
    const everything = [
      JSON.stringify(tables),
      lines.join("\n"),
      await actorText(`user:${PERSON.userId}`),
      await actorText(`anon:${PERSON.anonymousId}`),
    ].join("\n");
    for (const n of [PERSON.firstName, PERSON.anonymousId]) expect(everything).not.toContain(n);

    // D1 and the lake still agree line for line.
    expect(tables.events?.length).toBe(lines.length);
  });
});
