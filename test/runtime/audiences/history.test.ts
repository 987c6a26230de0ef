/**
 * An audience's past and its deliveries, as an operator reads them: the size
 * at each hour or day of a period (the same as asking the warehouse who was
 * in at that moment), the newest entries and exits, and the dead letters of
 * a destination that never answers, per destination and a page at a time.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { AudienceDeliveriesResponse, AudienceHistoryResponse } from "../../../src/model/audience-views";
import { read, sendBatch, uid } from "../helpers";
import { espHook, eventually, putOk, readJson } from "./helpers";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const history = (key: string, query = "") => readJson<AudienceHistoryResponse>(`/v1/audiences/${key}/history${query}`);

/** Members at instant `t` as docs/audiences.md asks the warehouse. */
async function membersAt(key: string, t: number): Promise<number> {
  const row = await env.WAREHOUSE.prepare(
    "SELECT COUNT(*) AS n FROM audience_memberships WHERE audience_key = ? AND entered_at <= ? AND (exited_at IS NULL OR exited_at > ?)",
  )
    .bind(key, t, t)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

describe("an audience's history", () => {
  it("gives the size at every day and hour boundary that asking who was in at that moment gives", async () => {
    const key = "history-stints";
    await putOk(`/v1/audiences/${key}`, { name: "Stints", rule: { trait: "never-set", op: "exists" } });
    const now = Date.now();
    // Stints of made-up people: before the period, across its start, inside it, still open, on a boundary.
    const dayStart = Math.floor(now / DAY) * DAY;
    const stints: [string, number, number | null][] = [
      ["user_id:gone-long-ago", now - 40 * DAY, now - 35 * DAY],
      ["user_id:across-start", now - 20 * DAY, now - 3 * DAY - 5 * HOUR],
      ["user_id:old-member", now - 20 * DAY, null],
      ["user_id:short-stint", now - 2 * DAY - 3 * HOUR, now - 2 * DAY],
      ["user_id:on-boundary", dayStart - DAY, dayStart],
      ["user_id:recent", now - 90 * 60_000, null],
      ["user_id:came-back", now - 6 * DAY, now - 5 * DAY],
      ["user_id:came-back", now - 4 * HOUR, null],
    ];
    await env.WAREHOUSE.batch(
      stints.map(([profileId, entered, exited]) =>
        env.WAREHOUSE.prepare(
          "INSERT INTO audience_memberships (audience_key, profile_id, entered_at, exited_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        ).bind(key, profileId, entered, exited, now),
      ),
    );

    const daily = await history(key, "?days=10");
    expect(daily.bucket).toBe("day");
    expect(daily.sizes).toHaveLength(11);
    expect(daily.sizes.at(-1)?.size).toBe(3);
    for (const point of daily.sizes.slice(0, -1)) {
      expect(point.size, point.at).toBe(await membersAt(key, Date.parse(point.at)));
    }
    // Entered in the period: short-stint, on-boundary, recent, came-back twice; exits: those that ended in it.
    expect(daily.entered).toBe(5);
    expect(daily.exited).toBe(4);

    const hourly = await history(key, "?days=1&bucket=hour");
    expect(hourly.sizes).toHaveLength(25);
    for (const point of hourly.sizes.slice(0, -1)) {
      expect(point.size, point.at).toBe(await membersAt(key, Date.parse(point.at)));
    }
    // Newest first, as the stints say, at most `limit`.
    const since = Date.parse(daily.since);
    const expected = stints
      .flatMap(([profileId, entered, exited]) => [
        ...(entered > since ? [{ profileId, kind: "entered", at: entered }] : []),
        ...(exited !== null && exited > since ? [{ profileId, kind: "exited", at: exited }] : []),
      ])
      .sort((x, y) => y.at - x.at)
      .map((t) => ({ ...t, at: new Date(t.at).toISOString() }));
    expect(daily.transitions).toEqual(expected);
    expect((await history(key, "?days=10&limit=3")).transitions).toEqual(expected.slice(0, 3));
  });

  it("follows people in and out as their events arrive", async () => {
    const key = "history-live";
    await putOk(`/v1/audiences/${key}`, { name: "Silver", rule: { trait: "plan", op: "eq", value: "silver" } });
    const [a, b] = [uid("silver"), uid("silver")];
    await sendBatch([a, b].map((userId) => ({ type: "identify", userId, traits: { plan: "silver" } })));
    await sendBatch([{ type: "identify", userId: a, traits: { plan: "gold" } }]);
    await eventually(async () => (await history(key)).exited === 1, "the exit in the warehouse");
    const h = await history(key, "?days=2&bucket=hour");
    expect(h).toMatchObject({ key, bucket: "hour", entered: 2, exited: 1 });
    expect(h.sizes.at(-1)?.size).toBe(1);
    expect(h.sizes[0]?.size).toBe(0);
    expect(h.transitions[0]).toMatchObject({ profileId: `user_id:${a}`, kind: "exited" });
    expect(h.transitions.map((t) => t.kind).sort()).toEqual(["entered", "entered", "exited"]);
  });

  it("answers a period it does not give, and an unknown audience, with what to do", async () => {
    const tooLong = await read("/v1/audiences/history-live/history?days=8&bucket=hour");
    expect(tooLong.status).toBe(400);
    expect(((await tooLong.json()) as { error: { message: string } }).error.message).toContain("bucket=day");
    expect((await read("/v1/audiences/history-live/history?days=91")).status).toBe(400);
    expect((await read("/v1/audiences/history-live/history?bucket=week")).status).toBe(400);
    expect((await read("/v1/audiences/nobody-here/history")).status).toBe(404);
    expect((await read("/v1/audiences/nobody-here/deliveries")).status).toBe(404);
  });
});

describe("an audience's deliveries", () => {
  it("lists the dead letters of a destination that never answers, per destination and a page at a time", async () => {
    const key = "history-dead";
    const down = espHook(uid("down"), 99);
    await putOk(`/v1/audiences/${key}`, {
      name: "Bronze",
      rule: { trait: "plan", op: "eq", value: "bronze" },
      destinations: [{ type: "webhook", url: down, secret: "a-secret-nobody-reads" }],
    });
    const users = [uid("bronze"), uid("bronze")];
    await sendBatch(users.map((userId) => ({ type: "identify", userId, traits: { plan: "bronze" } })));
    const deliveries = (query = "") => readJson<AudienceDeliveriesResponse>(`/v1/audiences/${key}/deliveries${query}`);
    await eventually(async () => (await deliveries()).dead === 2, "two dead letters", 30_000);

    const all = await deliveries();
    expect(all).toMatchObject({ key, delivered: 0, dead: 2, byDestination: [{ destination: down, dead: 2 }] });
    expect(all.items.map((i) => i.profileId).sort()).toEqual(users.map((u) => `user_id:${u}`).sort());
    expect(all.items[0]).toMatchObject({ status: "dead", attempts: 4, lastError: "HTTP 503", destination: down });
    expect(JSON.stringify(all)).not.toContain("a-secret-nobody-reads");

    const first = await deliveries("?limit=1");
    expect(first.items).toHaveLength(1);
    expect(first.next).not.toBeNull();
    const second = await deliveries(`?limit=1&cursor=${encodeURIComponent(first.next ?? "")}`);
    expect(second.next).toBeNull();
    expect([...first.items, ...second.items].map((i) => i.messageId)).toEqual(all.items.map((i) => i.messageId));

    expect((await deliveries("?status=delivered")).items).toEqual([]);
    expect((await read(`/v1/audiences/${key}/deliveries?status=lost`)).status).toBe(400);
    expect((await read(`/v1/audiences/${key}/deliveries?cursor=nonsense`)).status).toBe(400);
  });
});
