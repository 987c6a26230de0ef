/**
 * Abuse limits: ingestion per write key and address and reads per API key
 * (the Rate Limiting binding, with test budgets set in vitest.limits.config.mts:
 * 50 ingest requests and 100 reads per 10 s), and the per-profile flood
 * limit (100 events a second sustained, bursts of 3,000).
 */
import { describe, expect, it } from "vitest";
import { basic, call, readJson, uid, WRITE_KEY } from "./helpers";

const INGEST_BUDGET = 50;
const READ_BUDGET = 100;
const WINDOW_MS = 10_000;

/**
 * The binding counts in fixed windows aligned to the clock: a test that
 * spends a budget starts early in a window, so the budget is not reset halfway.
 */
async function startOfAWindow() {
  const left = WINDOW_MS - (Date.now() % WINDOW_MS);
  if (left < 5_000) await new Promise((r) => setTimeout(r, left + 20));
}

function track(address: string, userId: string) {
  return call("/v1/track", {
    method: "POST",
    headers: { authorization: basic(WRITE_KEY), "content-type": "application/json", "cf-connecting-ip": address },
    body: JSON.stringify({ userId, event: "Ping" }),
  });
}

describe("the ingestion limit", { timeout: 20_000 }, () => {
  it("answers 429 with Retry-After once one address spends its budget, and only that address", async () => {
    const address = `192.0.2.${1 + Math.floor(Math.random() * 250)}`;
    const userId = uid();
    await startOfAWindow();
    for (let i = 0; i < INGEST_BUDGET; i++) expect((await track(address, userId)).status).toBe(200);
    const limited = await track(address, userId);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(((await limited.json()) as { error: { code: string; message: string } }).error).toMatchObject({
      code: "rate_limited",
      message: expect.stringMatching(/retry/),
    });
    expect((await track("198.51.100.7", userId)).status).toBe(200);
    // What was refused was not stored.
    expect((await readJson<{ counts: { events: number } }>(`/v1/profiles/user_id:${userId}`)).counts.events).toBe(
      INGEST_BUDGET + 1,
    );
  });

  it("still answers a pixel with its GIF when the address is over the limit, without recording it", async () => {
    const address = `203.0.113.${1 + Math.floor(Math.random() * 250)}`;
    const userId = uid();
    const pixel = () => {
      const data = btoa(JSON.stringify({ writeKey: WRITE_KEY, userId, event: "Pixel" }));
      return call(`/v1/pixel/track?data=${data}`, { headers: { "cf-connecting-ip": address } });
    };
    await startOfAWindow();
    for (let i = 0; i < INGEST_BUDGET; i++) await pixel();
    const over = await pixel();
    expect(over.status).toBe(200);
    expect(over.headers.get("content-type")).toBe("image/gif");
    expect((await readJson<{ counts: { events: number } }>(`/v1/profiles/user_id:${userId}`)).counts.events).toBe(
      INGEST_BUDGET,
    );
  });
});

describe("pixels without a write key", { timeout: 20_000 }, () => {
  it("are counted while the address is within its budget, and over it cost no write at all", async () => {
    const address = `198.18.0.${1 + Math.floor(Math.random() * 250)}`;
    const data = btoa(JSON.stringify({ userId: uid(), event: "No Key" }));
    const counted = async () =>
      (await readJson<{ counts: { unauthenticated: Record<string, number> } }>("/v1/quarantine")).counts.unauthenticated
        .invalid_write_key ?? 0;
    const before = await counted();
    await startOfAWindow();
    for (let i = 0; i < INGEST_BUDGET + 10; i++) {
      const res = await call(`/v1/pixel/track?data=${data}`, { headers: { "cf-connecting-ip": address } });
      expect(res.headers.get("content-type")).toBe("image/gif");
    }
    expect((await counted()) - before).toBe(INGEST_BUDGET);
  });
});

describe("the read limit", { timeout: 20_000 }, () => {
  it("answers 429 once an API key spends its budget", async () => {
    const headers = { authorization: "Bearer test-api-key-limits" };
    await startOfAWindow();
    const statuses: number[] = [];
    for (let i = 0; i < READ_BUDGET + 10; i++) {
      statuses.push((await call("/v1/profiles/user_id:nobody-here", { headers })).status);
    }
    expect(statuses.filter((s) => s === 404)).toHaveLength(READ_BUDGET);
    expect(statuses.slice(READ_BUDGET)).toEqual(Array(10).fill(429));
    // Another key is untouched.
    expect(
      (await call("/v1/catalog/products/nothing", { headers: { authorization: "Bearer test-api-key" } })).status,
    ).toBe(404);
  });
});

describe("the per-profile flood limit", () => {
  it("throttles one flooded profile and stores everyone else's events from the same request", async () => {
    const flooded = uid();
    const bystander = uid();
    const batch = (n: number, tag: string) =>
      Array.from({ length: n }, (_, i) => ({
        type: "track",
        userId: flooded,
        event: "Flood",
        messageId: `${flooded}-${tag}-${i}`,
      }));
    const post = (messages: unknown[]) =>
      call("/v1/batch", {
        method: "POST",
        headers: { authorization: basic(WRITE_KEY), "content-type": "application/json" },
        body: JSON.stringify({ batch: messages }),
      });
    expect((await post(batch(2400, "a"))).status).toBe(200);
    const res = await post([...batch(1000, "b"), { type: "track", userId: bystander, event: "Calm" }]);
    expect(res.status).toBe(429);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("profile_rate_limited");
    expect(body.error.message).toContain(`user_id:${flooded}`);
    expect((await readJson<{ counts: { events: number } }>(`/v1/profiles/user_id:${flooded}`)).counts.events).toBe(
      2400,
    );
    expect((await readJson<{ counts: { events: number } }>(`/v1/profiles/user_id:${bystander}`)).counts.events).toBe(1);
  });
});
