/**
 * The quarantine stays bounded under a flood: pixels without a valid write
 * key are counted and only sampled, forged e-mail links are counted, and
 * every reason code is held to a cap and a retention period, with what is
 * evicted counted. Its own file, so its floods and small caps touch no other
 * test's rows (storage is isolated per file).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { warehouseDb } from "../../src/catalog/store";
import type { IdentityConflict } from "../../src/model/identity-claims";
import {
  BROWSER_PAYLOAD_CHARS,
  CLAIMED_CHARS,
  UNAUTHENTICATED_SAMPLE_PER_HOUR,
} from "../../src/model/quarantine-policy";
import { settingsOf } from "../../src/model/settings";
import type { RejectionCode } from "../../src/model/validate";
import { recordConflicts } from "../../src/sink/identity-conflicts";
import { quarantine, type Rejection } from "../../src/sink/quarantine";
import { BROWSER_KEY, basic, handle, readJson, sendBatch, uid, WRITE_KEY } from "./helpers";

interface Counts {
  total: number;
  byReason: Record<string, { total: number; open: number }>;
  evicted: number;
  expired: number;
  unauthenticated: Record<string, number>;
}

const counts = async () => (await readJson<{ counts: Counts }>("/v1/quarantine")).counts;

const b64 = (value: unknown) => btoa(JSON.stringify(value));

async function stored(code: RejectionCode) {
  const row = await env.WAREHOUSE.prepare(
    "SELECT COUNT(*) AS n, COALESCE(SUM(LENGTH(payload)), 0) AS bytes FROM bad_events WHERE code = ?",
  )
    .bind(code)
    .first<{ n: number; bytes: number }>();
  return row ?? { n: 0, bytes: 0 };
}

async function pixel(data: string) {
  const res = await handle(`/v1/pixel/track?data=${encodeURIComponent(data)}`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("image/gif");
  await res.arrayBuffer();
}

const HOUR = 3_600_000;

describe("a flood of pixels without a write key", { timeout: 120_000 }, () => {
  it("answers every one with the GIF, counts all 500 and stores only a small sample", async () => {
    const userId = uid();
    // 48 KB of base64 in the URL, just under the pixel's limit, with no write key.
    const data = b64({ userId, event: "Flood", properties: { blob: "x".repeat(36_500) } });
    expect(data.length).toBeGreaterThan(47 * 1024);
    expect(data.length).toBeLessThanOrEqual(48 * 1024);
    const before = await counts();
    const startHour = Math.floor(Date.now() / HOUR);
    for (let i = 0; i < 500; i++) await pixel(data);
    const hours = Math.floor(Date.now() / HOUR) - startHour + 1;

    const after = await counts();
    expect((after.unauthenticated.invalid_write_key ?? 0) - (before.unauthenticated.invalid_write_key ?? 0)).toBe(500);
    const kept = await stored("invalid_write_key");
    expect(kept.n).toBeGreaterThan(0);
    expect(kept.n).toBeLessThanOrEqual(UNAUTHENTICATED_SAMPLE_PER_HOUR * hours);
    // Each sample holds at most about 2 KB of what was sent: 500 × 48 KB never reaches D1.
    expect(kept.bytes).toBeLessThanOrEqual(kept.n * 2_100);
    expect((await readJson(`/v1/quarantine?reason=invalid_write_key&limit=1`)).items).toEqual([
      expect.objectContaining({ message: "pixel data needs a write key (writeKey)", source: "pixel/track" }),
    ]);
  });

  it("still keeps every rejection of a sender with a valid write key", async () => {
    const userId = uid();
    const before = await stored("missing_identity");
    const n = UNAUTHENTICATED_SAMPLE_PER_HOUR + 5;
    for (let i = 0; i < n; i++) await pixel(b64({ writeKey: WRITE_KEY, event: `${userId}-${i}` }));
    expect((await stored("missing_identity")).n - before.n).toBe(n);
  });

  it("counts forged e-mail links, and stores nothing of them", async () => {
    const before = await counts();
    expect((await handle("/o/not-a-token")).status).toBe(400);
    expect((await handle("/c/not-a-token")).status).toBe(400);
    const after = await counts();
    expect(after.unauthenticated.invalid_link_token ?? 0).toBe((before.unauthenticated.invalid_link_token ?? 0) + 2);
    expect(after.total).toBe(before.total);
  });
});

function rejections(code: RejectionCode, tag: string, n: number): Rejection[] {
  return Array.from({ length: n }, (_, i) => ({
    source: "batch",
    code,
    reason: `test ${tag} ${i}`,
    index: i,
    payload: { tag, i },
  }));
}

async function reasonsOf(code: RejectionCode): Promise<string[]> {
  const { results } = await env.WAREHOUSE.prepare("SELECT reason FROM bad_events WHERE code = ? ORDER BY id")
    .bind(code)
    .all<{ reason: string }>();
  return results.map((r) => r.reason);
}

describe("the quarantine's bounds", () => {
  const db = warehouseDb(env.WAREHOUSE);
  const defaults = settingsOf(env).quarantine;

  it("keeps the newest messages of a reason up to the cap, counts the evicted, and leaves other reasons alone", async () => {
    const small = { ...defaults, maxPerReason: 5 };
    const now = Date.now();
    await quarantine(db, rejections("unknown_type", "other", 2), now, small);
    const before = await counts();
    await quarantine(db, rejections("type_mismatch", "first", 8), now, small);
    expect(await reasonsOf("type_mismatch")).toEqual([3, 4, 5, 6, 7].map((i) => `test first ${i}`));
    await quarantine(db, rejections("type_mismatch", "second", 2), now + 1, small);
    expect(await reasonsOf("type_mismatch")).toEqual([
      "test first 5",
      "test first 6",
      "test first 7",
      "test second 0",
      "test second 1",
    ]);
    expect(await reasonsOf("unknown_type")).toHaveLength(2);
    expect((await counts()).evicted - before.evicted).toBe(5);
  });

  it("deletes messages older than the retention period on the next insert, and counts them", async () => {
    const now = Date.now();
    await quarantine(db, rejections("not_an_object", "old", 3), now - defaults.retentionMs - 60_000, defaults);
    await quarantine(db, rejections("not_an_object", "recent", 1), now - defaults.retentionMs + 60_000, defaults);
    expect(await reasonsOf("not_an_object")).toHaveLength(4);
    const before = await counts();
    await quarantine(db, rejections("unsafe_key", "new", 1), now, defaults);
    expect(await reasonsOf("not_an_object")).toEqual(["test recent 0"]);
    expect((await counts()).expired - before.expired).toBe(3);
  });
});

describe("the record of identity conflicts", () => {
  const db = warehouseDb(env.WAREHOUSE);
  const defaults = settingsOf(env).quarantine;
  const claims = (label: string, n: number): IdentityConflict[] =>
    Array.from({ length: n }, (_, i) => ({
      kind: "unverified_traits",
      messageId: `${label}-${i}`,
      profileId: `user_id:${uid()}`,
      claimed: { firstName: label },
    }));
  const messageIds = async () =>
    (
      await env.WAREHOUSE.prepare("SELECT message_id FROM identity_conflicts ORDER BY id").all<{ message_id: string }>()
    ).results.map((r) => r.message_id);
  const pruned = async () =>
    (await readJson<{ identityConflicts: { evicted: number; expired: number } }>("/v1/sink/status")).identityConflicts;

  it("keeps the newest claims of a kind up to the cap, and drops those past retention, counting both", async () => {
    const small = { ...defaults, maxPerReason: 4 };
    const now = Date.now();
    await recordConflicts(db, claims("old", 2), now - defaults.retentionMs - 60_000, defaults);
    await recordConflicts(db, claims("flood", 6), now, small);
    expect(await messageIds()).toEqual(["flood-2", "flood-3", "flood-4", "flood-5"]);
    expect(await pruned()).toEqual({ evicted: 2, expired: 2 });
  });
});

describe("what a public browser key can make the warehouse keep", () => {
  const fromBrowser = (batch: unknown[]) =>
    handle("/v1/batch", {
      method: "POST",
      headers: { authorization: basic(BROWSER_KEY), "content-type": "application/json" },
      body: JSON.stringify({ batch }),
    });

  it("is a rejected message's head only, and a refused claim's head only", async () => {
    const marker = uid("bulky");
    const bulk = "x".repeat(20_000);
    expect((await fromBrowser([{ type: "track", event: "No Id", properties: { marker, bulk } }])).status).toBe(200);
    const row = await env.WAREHOUSE.prepare("SELECT payload FROM bad_events WHERE payload LIKE ?")
      .bind(`%${marker}%`)
      .first<{ payload: string }>();
    expect(row?.payload.length).toBeLessThan(BROWSER_PAYLOAD_CHARS + 100);
    expect(row?.payload).toContain("truncated from");

    const userId = uid("known");
    await sendBatch([{ type: "identify", userId, traits: { firstName: "Vera" } }]);
    await fromBrowser([{ type: "identify", userId, traits: { firstName: "Mallory", bio: bulk } }]);
    const { items } = await readJson<{ items: { claimed: Record<string, unknown> }[] }>(
      `/v1/identity/conflicts?profile=user_id:${userId}`,
    );
    expect(items[0]?.claimed).toMatchObject({ truncated: true });
    expect(JSON.stringify(items[0]?.claimed).length).toBeLessThan(CLAIMED_CHARS + 100);
  });
});
