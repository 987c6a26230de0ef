import { describe, expect, it } from "vitest";
import type { ProfileView as Profile } from "../../src/model/views";
import { basic, call, ingest, quarantineRows, read, readJson, sendBatch, uid, WRITE_KEY } from "./helpers";

describe("authentication of ingestion", () => {
  it("refuses a request without a write key with 401 and says how to send one", async () => {
    const res = await call("/v1/track", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ userId: "x", event: "Signed Up" }),
    });
    expect(res.status).toBe(401);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("unauthorized");
    expect(body.error.message).toMatch(/write key/);
  });

  it("refuses an unknown write key with 401", async () => {
    const res = await ingest("/v1/track", { userId: "x", event: "E" }, { authorization: basic("nope") });
    expect(res.status).toBe(401);
  });

  it("accepts the write key in the body, and a second key for rotation", async () => {
    const userId = uid();
    const res = await call("/v1/track", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ writeKey: "test-write-key-2", userId, event: "Signed Up" }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ success: true, accepted: 1, rejected: [] });
  });

  it("does not let a write key read profiles", async () => {
    const res = await read("/v1/profiles/user_id:anyone", WRITE_KEY);
    expect(res.status).toBe(401);
  });
});

describe("Segment message types", () => {
  it("accepts all seven message types on their own routes and builds the profile", async () => {
    const userId = uid();
    const msgs: [string, Record<string, unknown>][] = [
      ["identify", { userId, traits: { email: "jane@example.com", plan: "pro" } }],
      ["track", { userId, event: "Product Viewed", properties: { product_id: "p1", category: "Shoes" } }],
      ["page", { userId, name: "Home", properties: { url: "https://shop.example.com/" } }],
      ["screen", { userId, name: "Cart" }],
      ["group", { userId, groupId: "acme", traits: { name: "Acme" } }],
      ["alias", { userId, previousId: "old-id" }],
    ];
    for (const [type, body] of msgs) {
      const res = await ingest(`/v1/${type}`, body);
      expect(res.status, type).toBe(200);
      expect(((await res.json()) as { accepted: number }).accepted, type).toBe(1);
    }
    const profile = await readJson<Profile>(`/v1/profiles/user_id:${userId}`);
    expect(profile.userId).toBe(userId);
    expect(profile.traits).toEqual({ email: "jane@example.com", plan: "pro" });
    expect(profile.counts.events).toBe(6);
    expect(profile.affinities.map((a) => a.dimension)).toContain("product:p1");
  });

  it("accepts /v1/import as an alias of /v1/batch", async () => {
    const userId = uid();
    const res = await ingest("/v1/import", { batch: [{ type: "track", userId, event: "Imported" }] });
    expect(await res.json()).toEqual({ success: true, accepted: 1, rejected: [] });
  });

  it("rejects a body whose type disagrees with the route", async () => {
    const res = await ingest("/v1/track", { type: "identify", userId: uid(), event: "X" });
    const body = (await res.json()) as { accepted: number; rejected: { reason: string }[] };
    expect(body.accepted).toBe(0);
    expect(body.rejected[0]?.reason).toMatch(/does not match the route/);
  });
});

describe("bodies and limits", () => {
  it("accepts text/plain holding JSON, as navigator.sendBeacon sends it", async () => {
    const userId = uid();
    const res = await ingest("/v1/batch", JSON.stringify({ batch: [{ type: "page", userId }] }), {
      "content-type": "text/plain;charset=UTF-8",
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { accepted: number }).accepted).toBe(1);
  });

  it("answers 415 for a content type it cannot read", async () => {
    const form = await ingest("/v1/track", "userId=1", { "content-type": "application/x-www-form-urlencoded" });
    expect(form.status).toBe(415);
    expect(((await form.json()) as { error: { message: string } }).error.message).toMatch(/application\/json/);
    const xml = await ingest("/v1/track", "{}", { "content-type": "application/xml" });
    expect(xml.status).toBe(415);
  });

  it("accepts JSON mislabelled as a form, as RudderStack's Node SDK sends it", async () => {
    const res = await ingest(
      "/v1/track",
      { userId: uid(), event: "Labelled Oddly" },
      {
        "content-type": "application/x-www-form-urlencoded",
      },
    );
    expect(res.status).toBe(200);
  });

  it.each([
    ["malformed JSON", "{not json", "malformed_json"],
    ["an empty body", "", "empty_body"],
    ["a JSON array", "[1,2]", "invalid_body"],
    ["a JSON string", '"hello"', "invalid_body"],
    ["null", "null", "invalid_body"],
  ])("answers 400 for %s", async (_label, body, code) => {
    const res = await ingest("/v1/track", body);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
  });

  it("answers 400 when batch is not an array", async () => {
    const res = await ingest("/v1/batch", { batch: { type: "track" } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/array/);
  });

  it("refuses a batch of more than 2,500 messages, naming the limit", async () => {
    const batch = Array.from({ length: 2_501 }, () => ({ type: "page", userId: "u" }));
    const res = await ingest("/v1/batch", { batch });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe(
      "batch has 2,501 messages; the limit is 2,500 — split it",
    );
  });

  it("refuses a request body over 500 KB with 413", async () => {
    const big = "x".repeat(520 * 1024);
    const res = await ingest("/v1/track", { userId: "u", event: "Big", properties: { big } });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/limit is 512000 bytes/);
  });

  it("rejects a single message over 32 KB inside a batch, keeps the others, and quarantines it", async () => {
    const userId = uid();
    const marker = uid("big");
    const res = await sendBatch([
      { type: "track", userId, event: "Small" },
      { type: "track", userId, event: marker, properties: { blob: "y".repeat(40 * 1024) } },
    ]);
    expect(res.accepted).toBe(1);
    expect(res.rejected).toHaveLength(1);
    expect(res.rejected[0]?.index).toBe(1);
    expect(res.rejected[0]?.reason).toMatch(/limit is 32768 \(32 KB\)/);
    const rows = await quarantineRows("%32 KB%");
    expect(rows.some((r) => r.payload.includes(marker))).toBe(true);
  });
});

describe("per-message validation", () => {
  it("gives each rejected message its index and a reason, and stores it in the quarantine", async () => {
    const userId = uid();
    const res = await sendBatch([
      { type: "track", userId, event: "Fine" },
      { type: "track", userId },
      { type: "unknown", userId },
      { type: "page" },
      { type: "track", userId: { nested: true }, event: "X" },
      "not an object",
    ]);
    expect(res.accepted).toBe(1);
    expect(res.rejected.map((r) => r.index)).toEqual([1, 2, 3, 4, 5]);
    const reasons = res.rejected.map((r) => r.reason);
    expect(reasons[0]).toMatch(/event name/);
    expect(reasons[1]).toMatch(/unknown message type "unknown"/);
    expect(reasons[2]).toBe("message needs a userId or an anonymousId");
    expect(reasons[3]).toMatch(/^userId:/);
    expect(reasons[4]).toBe("message must be a JSON object");

    const stored = await quarantineRows();
    for (const reason of reasons) expect(stored.map((r) => r.reason)).toContain(reason);
    const profile = await readJson<Profile>(`/v1/profiles/user_id:${userId}`);
    expect(profile.counts.events).toBe(1);
  });

  it("refuses numeric user ids too large to be exact, so two people are not one, and keeps them as strings", async () => {
    // Nineteen random digits and a last one: as JSON numbers both read as the same value.
    const digits = `1${[...crypto.getRandomValues(new Uint8Array(18))].map((b) => b % 10).join("")}`;
    const [a, b] = [`${digits}1`, `${digits}0`];
    const res = await ingest(
      "/v1/batch",
      `{"batch":[{"type":"identify","userId":${a},"traits":{"name":"A"}},{"type":"identify","userId":${b},"traits":{"name":"B"}}]}`,
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      accepted: number;
      rejected: { index: number; code: string; reason: string }[];
    };
    expect(body.accepted).toBe(0);
    expect(body.rejected.map((r) => [r.index, r.code])).toEqual([
      [0, "unsafe_number_id"],
      [1, "unsafe_number_id"],
    ]);
    expect(body.rejected[0]?.reason).toMatch(/send ids as strings/);
    for (const id of [a, b, String(Number(a))]) expect((await read(`/v1/profiles/user_id:${id}`)).status).toBe(404);

    await sendBatch([{ type: "identify", userId: a, traits: { name: "A" } }]);
    const kept = await readJson<Profile>(`/v1/profiles/user_id:${a}`);
    expect([kept.userId, kept.traits.name]).toEqual([a, "A"]);
    expect((await read(`/v1/profiles/user_id:${b}`)).status).toBe(404);
  });

  it("rejects __proto__ and constructor keys and leaves the profile untouched", async () => {
    const userId = uid();
    await sendBatch([{ type: "identify", userId, traits: { plan: "free" } }]);
    const body = `{"batch":[{"type":"identify","userId":"${userId}","traits":{"__proto__":{"admin":true},"plan":"hacked"}},{"type":"track","userId":"${userId}","event":"E","properties":{"constructor":{"prototype":1}}}]}`;
    const res = await ingest("/v1/batch", body);
    const result = (await res.json()) as { accepted: number; rejected: { reason: string }[] };
    expect(result.accepted).toBe(0);
    expect(result.rejected[0]?.reason).toMatch(/traits.__proto__" is not allowed/);
    expect(result.rejected[1]?.reason).toMatch(/properties.constructor" is not allowed/);
    const profile = await readJson<Profile>(`/v1/profiles/user_id:${userId}`);
    expect(profile.traits).toEqual({ plan: "free" });
    expect(profile.counts.events).toBe(1);
  });

  it("refuses a batch-level context over 32 KB with 413, before copying it into every message", async () => {
    const res = await ingest("/v1/batch", {
      batch: [{ type: "track", userId: uid(), event: "E" }],
      context: { pad: "x".repeat(40_000) },
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string; message: string } }).error).toMatchObject({
      code: "context_too_large",
      message: expect.stringContaining("trim it"),
    });
  });

  it("refuses a batch-level context holding a reserved key", async () => {
    const res = await ingest("/v1/batch", `{"batch":[],"context":{"__proto__":{"x":1}}}`);
    expect(res.status).toBe(400);
  });
});

describe("idempotency and time", () => {
  it("applies the same messageId once, within a batch and across requests", async () => {
    const userId = uid();
    const messageId = uid("m");
    const event = { type: "track", userId, messageId, event: "Product Viewed", properties: { product_id: "p9" } };
    expect((await sendBatch([event, event])).accepted).toBe(2);
    expect((await sendBatch([event])).accepted).toBe(1);
    const profile = await readJson<Profile>(`/v1/profiles/user_id:${userId}`);
    expect(profile.counts.events).toBe(1);
    expect(profile.affinities.find((a) => a.dimension === "product:p9")?.score).toBe(1);
  });

  it("corrects the client's clock skew with sentAt (Segment's rule)", async () => {
    const userId = uid();
    // The device clock runs one hour fast: it stamped the event at 12:00 and sent it at 12:00:05.
    const before = Date.now();
    await sendBatch([
      {
        type: "track",
        userId,
        event: "Skewed",
        timestamp: "2030-01-01T12:00:00.000Z",
        sentAt: "2030-01-01T12:00:05.000Z",
      },
    ]);
    const { events } = await readJson<{ events: { timestamp: string }[] }>(`/v1/profiles/${userId}/events`);
    const stored = Date.parse(events[0]?.timestamp ?? "");
    expect(stored).toBeGreaterThanOrEqual(before - 5_000 - 1_000);
    expect(stored).toBeLessThanOrEqual(Date.now() - 5_000 + 1_000);
  });

  it("merges the batch context into each message", async () => {
    const userId = uid();
    await sendBatch([{ type: "page", userId, context: { locale: "de-DE" } }], {
      context: { library: { name: "analytics-node" }, locale: "en-US" },
    });
    const { events } = await readJson<{ events: { context: Record<string, unknown> }[] }>(
      `/v1/profiles/${userId}/events`,
    );
    expect(events[0]?.context).toEqual({ library: { name: "analytics-node" }, locale: "de-DE" });
  });

  it("stores the client's address anonymized and its user agent only as device, browser and OS", async () => {
    const userId = uid();
    const res = await ingest(
      "/v1/batch",
      {
        batch: [
          { type: "track", userId, event: "Product Viewed", properties: { product_id: "sku-1", category: "Shoes" } },
        ],
      },
      {
        "cf-connecting-ip": "203.0.113.77",
        "user-agent":
          "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
      },
    );
    expect(res.status).toBe(200);
    const { events } = await readJson<{ events: { context: Record<string, unknown> }[] }>(
      `/v1/profiles/${userId}/events`,
    );
    expect(events[0]?.context).toEqual({
      ip: "203.0.113.0",
      device: { type: "desktop" },
      browser: { name: "Chrome", version: "124" },
      os: { name: "Windows", version: "10" },
    });
  });

  it("counts a crawler's events without letting them move affinities", async () => {
    const userId = uid();
    await ingest(
      "/v1/batch",
      {
        batch: [
          { type: "track", userId, event: "Product Viewed", properties: { product_id: "sku-1", category: "Shoes" } },
        ],
      },
      { "user-agent": "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)" },
    );
    const profile = await readJson<{ counts: { events: number }; affinities: unknown[] }>(`/v1/profiles/${userId}`);
    expect(profile.counts.events).toBe(1);
    expect(profile.affinities).toEqual([]);
  });
});

describe("CORS", () => {
  it("is open on ingestion routes", async () => {
    const res = await call("/v1/batch", {
      method: "OPTIONS",
      headers: { origin: "https://shop.example.com", "access-control-request-method": "POST" },
    });
    expect(res.status).toBeLessThan(300);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
  });

  it("is never open on profile reads", async () => {
    const res = await call("/v1/profiles/user_id:x", { headers: { origin: "https://evil.example.com" } });
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("compressed bodies", () => {
  async function gzip(text: string): Promise<ArrayBuffer> {
    return new Response(new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer();
  }

  it("accepts a gzip batch, as RudderStack's SDK sends by default", async () => {
    const userId = uid();
    const res = await call("/v1/batch", {
      method: "POST",
      headers: { authorization: basic(WRITE_KEY), "content-type": "application/json", "content-encoding": "gzip" },
      body: await gzip(JSON.stringify({ batch: [{ type: "track", userId, event: "Zipped" }] })),
    });
    expect(await res.json()).toEqual({ success: true, accepted: 1, rejected: [] });
  });

  it("refuses a small gzip body that inflates past 500 KB", async () => {
    const body = await gzip(JSON.stringify({ batch: [], pad: " ".repeat(2 * 1024 * 1024) }));
    expect(body.byteLength).toBeLessThan(10 * 1024);
    const res = await call("/v1/batch", {
      method: "POST",
      headers: { authorization: basic(WRITE_KEY), "content-type": "application/json", "content-encoding": "gzip" },
      body,
    });
    expect(res.status).toBe(413);
  });

  it("answers 400 for a body that is not gzip although it says so, and 415 for an unknown encoding", async () => {
    const headers = { authorization: basic(WRITE_KEY), "content-type": "application/json" };
    const bad = await call("/v1/batch", {
      method: "POST",
      headers: { ...headers, "content-encoding": "gzip" },
      body: "{}",
    });
    expect(bad.status).toBe(400);
    const br = await call("/v1/batch", {
      method: "POST",
      headers: { ...headers, "content-encoding": "br" },
      body: "{}",
    });
    expect(br.status).toBe(415);
  });
});
