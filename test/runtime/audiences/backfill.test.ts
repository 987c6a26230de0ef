/**
 * Backfill: an audience defined after 2,000 people sent their events is
 * evaluated for each of them through the audience Queue, and ends up with
 * exactly the members of the same rule evaluated live, event by event.
 */
import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import { sendBatch, uid } from "../helpers";
import { eventually, putOk, readAudience, readJson } from "./helpers";

const PEOPLE = 2_000;
const HOUR = 3_600_000;
const rule = {
  all: [{ event: "Product Added", within: "24h" }, { not: { event: "Order Completed", within: "24h" } }],
};

/** Who should be in: added within the day and not ordered since (decided here, from what is sent). */
function shopper(i: number, run: string, now: number) {
  const userId = `${run}-${String(i).padStart(4, "0")}`;
  const at = (ago: number) => new Date(now - ago).toISOString();
  const addedLongAgo = i % 5 === 0;
  const added = i % 3 !== 2;
  const ordered = i % 3 === 1;
  const events: Record<string, unknown>[] = [
    { type: "track", userId, event: "Product Viewed", timestamp: at(2 * HOUR), properties: { product_id: "p1" } },
  ];
  if (added) {
    events.push({
      type: "track",
      userId,
      event: "Product Added",
      timestamp: at(addedLongAgo ? 30 * HOUR : HOUR),
      properties: { product_id: "p1" },
    });
  }
  if (ordered) events.push({ type: "track", userId, event: "Order Completed", timestamp: at(HOUR / 2) });
  return { profileId: `user_id:${userId}`, member: added && !addedLongAgo && !ordered, events };
}

async function allMembers(key: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const page: { items: { profileId: string }[]; next: string | null } = await readJson(
      `/v1/audiences/${key}/members?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
    );
    ids.push(...page.items.map((m) => m.profileId));
    cursor = page.next;
  } while (cursor);
  return ids.sort();
}

async function warehouseProfiles(): Promise<number> {
  const row = await env.WAREHOUSE.prepare("SELECT COUNT(*) AS n FROM profiles").first<{ n: number }>();
  return row?.n ?? 0;
}

it("evaluates 2,000 existing people to the same members as live evaluation", async () => {
  await putOk("/v1/audiences/live-abandoners", { name: "Live", rule });
  const run = uid("bf");
  const now = Date.now();
  const people = Array.from({ length: PEOPLE }, (_, i) => shopper(i, run, now));
  for (let i = 0; i < people.length; i += 100) {
    await sendBatch(people.slice(i, i + 100).flatMap((p) => p.events));
  }
  const expected = people
    .filter((p) => p.member)
    .map((p) => p.profileId)
    .sort();
  await eventually(async () => (await warehouseProfiles()) >= PEOPLE, "every profile in the warehouse", 90_000);

  const created = await putOk<{ backfill: { total: number } }>("/v1/audiences/backfilled-abandoners", {
    name: "Backfilled",
    rule,
  });
  expect(created.backfill.total).toBe(PEOPLE);
  await eventually(
    async () => (await readAudience("backfilled-abandoners")).backfill?.status === "done",
    "the backfill to finish",
    90_000,
  );
  const done = await readAudience("backfilled-abandoners");
  expect(done.backfill).toMatchObject({ status: "done", total: PEOPLE, done: PEOPLE });

  // Both audiences' members reach the warehouse through the sink.
  await eventually(
    async () =>
      (await readAudience("backfilled-abandoners")).size === expected.length &&
      (await readAudience("live-abandoners")).size === expected.length,
    "both sizes in the warehouse",
    60_000,
  );
  expect(await allMembers("live-abandoners")).toEqual(expected);
  expect(await allMembers("backfilled-abandoners")).toEqual(expected);
});
