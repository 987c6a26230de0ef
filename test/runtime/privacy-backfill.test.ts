/**
 * Rows kept before the quarantine and the dead letters recorded their
 * owners: migration 0004's backfill reads each owner from the row's own
 * structured fields, so an erasure afterwards removes the person's old rows
 * and leaves another person's row that merely mentions the same strings.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, uid } from "./helpers";

const auth = { authorization: "Bearer test-api-key" };

/** Runs the data statements (the UPDATEs) of migration 0004 again, as on a database holding old rows. */
async function backfill() {
  const migration = env.TEST_MIGRATIONS.find((m) => m.name.startsWith("0004_"));
  if (!migration) throw new Error("migration 0004 should be among the test migrations");
  const updates = migration.queries.filter((q) => /^\s*(--[^\n]*\n\s*)*UPDATE/i.test(q));
  expect(updates).toHaveLength(2);
  for (const q of updates) await env.WAREHOUSE.prepare(q).run();
}

async function insertOldQuarantined(payload: string): Promise<number> {
  const row = await env.WAREHOUSE.prepare(
    "INSERT INTO bad_events (received_at, source, code, reason, payload) VALUES (?, 'batch', 'invalid_fields', 'old', ?) RETURNING id",
  )
    .bind(Date.now(), payload)
    .first<{ id: number }>();
  return row?.id ?? -1;
}

async function insertOldDeadLetter(body: string): Promise<number> {
  const row = await env.WAREHOUSE.prepare(
    "INSERT INTO dead_letters (queue, message_id, attempts, body, received_at) VALUES ('edge-profiles-changes', ?, 6, ?, ?) RETURNING id",
  )
    .bind(uid("run"), body, Date.now())
    .first<{ id: number }>();
  return row?.id ?? -1;
}

const ownersOf = (id: number) =>
  env.WAREHOUSE.prepare("SELECT user_id, anonymous_id, email_hash FROM bad_events WHERE id = ?").bind(id).first();
const profileIdsOf = async (id: number) =>
  (
    await env.WAREHOUSE.prepare("SELECT profile_ids FROM dead_letters WHERE id = ?").bind(id).first<{
      profile_ids: string | null;
    }>()
  )?.profile_ids ?? null;
const exists = async (table: string, id: number) =>
  (await env.WAREHOUSE.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE id = ?`).bind(id).first<{ n: number }>())
    ?.n === 1;

describe("rows kept before owner columns existed", () => {
  it("get their owners from their own fields, and an erasure then removes only the person's", async () => {
    const person = uid("user");
    const email = `${person}@example.com`;
    const other = uid("user");
    const numeric = String(Math.floor(Math.random() * 1e9));
    const mine = await insertOldQuarantined(JSON.stringify({ type: "track", userId: person }));
    const mineByEmail = await insertOldQuarantined(JSON.stringify({ type: "identify", traits: { email } }));
    const theirs = await insertOldQuarantined(
      JSON.stringify({ type: "track", userId: other, properties: { order_id: person }, traits: { cc: email } }),
    );
    const numericId = await insertOldQuarantined(JSON.stringify({ type: "track", userId: Number(numeric) }));
    const notObject = await insertOldQuarantined(`pixel data ${person}`);
    const myLetter = await insertOldDeadLetter(
      JSON.stringify({ v: 1, actor: `user:${person}`, records: [{ profileId: `user_id:${person}` }] }),
    );
    const theirLetter = await insertOldDeadLetter(
      JSON.stringify({
        v: 1,
        actor: `user:${other}`,
        records: [{ profileId: `user_id:${other}`, event: { properties: { order_id: person } } }],
      }),
    );
    const brokenLetter = await insertOldDeadLetter(`{not json ${person}`);

    await backfill();
    expect(await ownersOf(mine)).toEqual({ user_id: person, anonymous_id: null, email_hash: null });
    expect(await ownersOf(theirs)).toEqual({ user_id: other, anonymous_id: null, email_hash: null });
    expect(await ownersOf(numericId)).toEqual({ user_id: numeric, anonymous_id: null, email_hash: null });
    expect(await ownersOf(notObject)).toEqual({ user_id: null, anonymous_id: null, email_hash: null });
    expect(JSON.parse((await profileIdsOf(myLetter)) ?? "null")).toEqual([`user_id:${person}`]);
    expect(JSON.parse((await profileIdsOf(theirLetter)) ?? "null")).toEqual([`user_id:${other}`]);
    expect(await profileIdsOf(brokenLetter)).toBeNull();

    // The person exists, with the address, so erasing their user id reaches the old row that carries only it.
    const identify = await call("/v1/identify", {
      method: "POST",
      headers: { authorization: `Basic ${btoa("test-write-key:")}`, "content-type": "application/json" },
      body: JSON.stringify({ userId: person, traits: { email } }),
    });
    expect(identify.status).toBe(200);
    expect((await call(`/v1/profiles/user_id:${person}`, { method: "DELETE", headers: auth })).status).toBe(200);

    expect(await exists("bad_events", mine)).toBe(false);
    expect(await exists("bad_events", mineByEmail)).toBe(false);
    expect(await exists("dead_letters", myLetter)).toBe(false);
    // Another person's rows stay although their text holds the person's id and address; so do rows naming no one.
    expect(await exists("bad_events", theirs)).toBe(true);
    expect(await exists("dead_letters", theirLetter)).toBe(true);
    expect(await exists("bad_events", notObject)).toBe(true);
    expect(await exists("dead_letters", brokenLetter)).toBe(true);
  });
});
