/**
 * Audience backfill on `npm start`'s runtime (the deploy bundle in workerd):
 * an audience defined after 2,000 people sent their events is evaluated for
 * each of them through the audience Queue, and ends with exactly the members
 * of the same rule evaluated live, event by event, as those events arrived —
 * and exactly the people the test itself says should be in.
 *
 * (In the vitest pool this many actors cannot be built: the pool wraps the
 * actor class's prototype in one more Proxy per instance, and a few thousand
 * instances exhaust the stack. The production runtime has no such wrapper.)
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { E2E_KEYS, startProductionServer } from "../../scripts/local-server.mjs";
import { postBatch, sinkStatus, waitFor } from "./sink-client";

const PEOPLE = 2_000;
const HOUR = 3_600_000;
const rule = {
  all: [{ event: "Product Added", within: "24h" }, { not: { event: "Order Completed", within: "24h" } }],
};
const auth = { authorization: `Bearer ${E2E_KEYS.apiKey}`, "content-type": "application/json" };

let server: Awaited<ReturnType<typeof startProductionServer>> | null = null;
beforeAll(async () => {
  server = await startProductionServer();
});
afterAll(async () => {
  await server?.stop();
});

/** Who should be in: added within the day and not ordered since (decided here, from what is sent). */
function shopper(i: number, now: number) {
  const userId = `shopper-${String(i).padStart(4, "0")}`;
  const at = (ago: number) => new Date(now - ago).toISOString();
  const addedLongAgo = i % 5 === 0;
  const added = i % 3 !== 2;
  const ordered = i % 3 === 1;
  const events: Record<string, unknown>[] = [
    { type: "track", userId, event: "Product Viewed", timestamp: at(2 * HOUR), properties: { product_id: "p1" } },
  ];
  if (added) {
    const ago = addedLongAgo ? 30 * HOUR : HOUR;
    events.push({
      type: "track",
      userId,
      event: "Product Added",
      timestamp: at(ago),
      properties: { product_id: "p1" },
    });
  }
  if (ordered) events.push({ type: "track", userId, event: "Order Completed", timestamp: at(HOUR / 2) });
  return { profileId: `user_id:${userId}`, member: added && !addedLongAgo && !ordered, events };
}

async function putAudience(base: string, key: string, name: string) {
  const res = await fetch(`${base}/v1/audiences/${key}`, {
    method: "PUT",
    headers: auth,
    body: JSON.stringify({ name, rule }),
  });
  const body = (await res.json()) as { backfill: { total: number } | null };
  expect(res.status, JSON.stringify(body)).toBe(201);
  return body;
}

async function readAudience(base: string, key: string) {
  const res = await fetch(`${base}/v1/audiences/${key}`, { headers: auth });
  return (await res.json()) as { size: number; backfill: { status: string; total: number; done: number } | null };
}

async function allMembers(base: string, key: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
    const res = await fetch(`${base}/v1/audiences/${key}/members?limit=500${q}`, { headers: auth });
    const page = (await res.json()) as { items: { profileId: string }[]; next: string | null };
    ids.push(...page.items.map((m) => m.profileId));
    cursor = page.next;
  } while (cursor);
  return ids.sort();
}

/** Sends a batch as an SDK does: a 503 (at capacity) is sent again after its Retry-After. */
async function sendPatiently(base: string, batch: Record<string, unknown>[]) {
  const withIds = batch.map((m) => ({ messageId: crypto.randomUUID(), ...m }));
  for (let attempt = 0; attempt < 30; attempt++) {
    const res = await postBatch(base, withIds);
    if (res.status === 200) return;
    expect(res.status).toBe(503);
    await new Promise((r) => setTimeout(r, Number(res.headers.get("retry-after") ?? 1) * 1000));
  }
  throw new Error("batch still refused after 30 attempts");
}

it("evaluates 2,000 existing people to the same members as live evaluation", async () => {
  const base = server?.url ?? "";
  await putAudience(base, "live-abandoners", "Live");
  const now = Date.now();
  const people = Array.from({ length: PEOPLE }, (_, i) => shopper(i, now));
  for (let i = 0; i < people.length; i += 50)
    await sendPatiently(
      base,
      people.slice(i, i + 50).flatMap((p) => p.events),
    );
  const expected = people
    .filter((p) => p.member)
    .map((p) => p.profileId)
    .sort();
  await waitFor(
    () => sinkStatus(base),
    (s) => s.tables.profiles >= PEOPLE,
    "every profile in the warehouse",
    120_000,
  );

  const created = await putAudience(base, "backfilled-abandoners", "Backfilled");
  expect(created.backfill?.total).toBe(PEOPLE);
  const done = await waitFor(
    () => readAudience(base, "backfilled-abandoners"),
    (a) => a.backfill?.status === "done",
    "the backfill to finish",
    120_000,
  );
  expect(done.backfill).toMatchObject({ status: "done", total: PEOPLE, done: PEOPLE });

  // Both audiences' members reach the warehouse through the sink.
  for (const key of ["live-abandoners", "backfilled-abandoners"]) {
    await waitFor(
      () => readAudience(base, key),
      (a) => a.size === expected.length,
      `${key} to reach its size`,
      60_000,
    );
  }
  expect(await allMembers(base, "live-abandoners")).toEqual(expected);
  expect(await allMembers(base, "backfilled-abandoners")).toEqual(expected);
}, 400_000);
