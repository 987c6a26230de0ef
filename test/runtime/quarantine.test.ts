/**
 * The quarantine an operator acts on: rejected messages listed with reason
 * codes and counts, filtered, paged, and replayed — corrected or as stored —
 * through the same validation as live traffic, each applied once.
 */
import { describe, expect, it } from "vitest";
import { basic, call, readJson, sendBatch, uid, WRITE_KEY } from "./helpers";

interface Item {
  id: number;
  source: string;
  reason: string;
  message: string;
  payload: Record<string, unknown> | string;
  replayedAt: string | null;
  replayedMessageId: string | null;
}
interface Page {
  items: Item[];
  counts: { total: number; open: number; byReason: Record<string, { total: number; open: number }> };
  next: number | null;
}

function replay(items: unknown[]) {
  return call("/v1/quarantine/replay", {
    method: "POST",
    headers: { authorization: "Bearer test-api-key", "content-type": "application/json" },
    body: JSON.stringify({ items }),
  });
}

async function quarantined(tag: string, query = "status=all&limit=500"): Promise<Item[]> {
  const page = await readJson<Page>(`/v1/quarantine?${query}`);
  return page.items.filter((i) => JSON.stringify(i.payload).includes(tag));
}

describe("the quarantine", () => {
  it("lists rejected messages newest first with a reason code, the detail and the original payload", async () => {
    const tag = uid("q");
    const res = await sendBatch([
      { type: "track", userId: tag },
      { type: "page", properties: { tag } },
      { type: "track", userId: tag, event: "Fine" },
    ]);
    expect(res.rejected.map((r) => r.index)).toEqual([0, 1]);
    const items = await quarantined(tag);
    expect(items.map((i) => i.reason)).toEqual(["missing_identity", "invalid_fields"]);
    expect(items[1]).toMatchObject({ source: "batch", payload: { type: "track", userId: tag }, replayedAt: null });
    expect(items[1]?.message).toMatch(/event/);
  });

  it("counts by reason and filters by it, page by page", async () => {
    const tag = uid("q");
    await sendBatch(Array.from({ length: 3 }, (_, i) => ({ type: "page", properties: { tag, i } })));
    const before = await readJson<Page>("/v1/quarantine?reason=missing_identity&limit=2");
    expect(before.items).toHaveLength(2);
    expect(before.items.every((i) => i.reason === "missing_identity")).toBe(true);
    expect(before.counts.byReason.missing_identity?.open).toBeGreaterThanOrEqual(3);
    expect(before.next).not.toBeNull();
    const next = await readJson<Page>(`/v1/quarantine?reason=missing_identity&limit=2&before=${before.next}`);
    expect(next.items[0]?.id).toBeLessThan(before.items[1]?.id ?? 0);
    const bad = await call("/v1/quarantine?reason=nonsense", { headers: { authorization: "Bearer test-api-key" } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toContain("missing_identity");
  });

  it("replays a corrected message once, and leaves what is still wrong open with the new reason", async () => {
    const tag = uid("q");
    await sendBatch([
      { type: "track", event: "Product Viewed", properties: { tag } },
      { type: "track", userId: tag, properties: { tag } },
    ]);
    // Newest first: the message missing its event name, then the one missing any identity.
    const [fixable, unfixable] = await quarantined(tag);
    if (!fixable || !unfixable) throw new Error("both messages should be quarantined");
    const res = await replay([
      { id: fixable.id, payload: { type: "track", userId: tag, event: "Product Viewed", properties: { tag } } },
      { id: unfixable.id },
      { id: 999_999 },
    ]);
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      replayed: number;
      results: { id: number; status: string; messageId?: string }[];
    };
    expect(body.replayed).toBe(1);
    expect(body.results).toEqual([
      { id: fixable.id, status: "replayed", messageId: `replay-${fixable.id}` },
      { id: unfixable.id, status: "rejected", reason: "message needs a userId or an anonymousId" },
      { id: 999_999, status: "not_found", reason: expect.stringMatching(/no quarantined message/) },
    ]);
    const profile = await readJson<{ counts: { events: number } }>(`/v1/profiles/user_id:${tag}`);
    expect(profile.counts.events).toBe(1);

    const again = (await (await replay([{ id: fixable.id }])).json()) as { results: { status: string }[] };
    expect(again.results[0]?.status).toBe("already_replayed");
    expect((await readJson<{ counts: { events: number } }>(`/v1/profiles/user_id:${tag}`)).counts.events).toBe(1);

    const open = await quarantined(tag, "status=open&limit=500");
    expect(open.map((i) => i.id)).toEqual([unfixable.id]);
    const replayed = await quarantined(tag, "status=replayed&limit=500");
    expect(replayed[0]).toMatchObject({ id: fixable.id, replayedMessageId: `replay-${fixable.id}` });
  });

  it("answers a malformed replay request with 400 saying the shape", async () => {
    const res = await replay([]);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain("items");
  });

  it("is for operators: no key, or a write key, is 401", async () => {
    expect((await call("/v1/quarantine")).status).toBe(401);
    expect((await call("/v1/quarantine", { headers: { authorization: basic(WRITE_KEY) } })).status).toBe(401);
    expect((await call("/v1/quarantine", { headers: { authorization: `Bearer ${WRITE_KEY}` } })).status).toBe(401);
  });
});
