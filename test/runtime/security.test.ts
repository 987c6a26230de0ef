/**
 * Who may do what, and what is never kept: every route that needs the
 * secret API key refuses a request without it and one with a (public)
 * write key; reads are never open to other origins; quarantined payloads
 * keep no write key and no full client address.
 */
import { describe, expect, it } from "vitest";
import { basic, call, productFixture, putCatalog, quarantineRows, read, sendBatch, uid, WRITE_KEY } from "./helpers";

/** Every route that needs the secret API key, with a body where it takes one. */
const SECRET_ROUTES: [method: string, path: string, body?: unknown][] = [
  ["GET", "/v1/profiles/user_id:someone"],
  ["GET", "/v1/profiles/user_id:someone/events"],
  ["GET", "/v1/profiles/user_id:someone/recommendations"],
  ["GET", "/v1/profiles/user_id:someone/export"],
  ["DELETE", "/v1/profiles/user_id:someone"],
  ["GET", "/v1/merge/user_id:someone"],
  ["GET", "/v1/merge/user_id:someone?format=html"],
  ["GET", "/v1/catalog/products"],
  ["PUT", "/v1/catalog/products", { products: [] }],
  ["GET", "/v1/catalog/products/p-1"],
  ["DELETE", "/v1/catalog/products/p-1"],
  ["GET", "/v1/sink/status"],
  ["GET", "/v1/sink/lake"],
  ["GET", "/v1/sink/lake/object?key=raw/events/x"],
  ["GET", "/v1/sink/outbox/user_id:someone"],
  ["GET", "/v1/sink/dead-letters"],
  ["GET", "/v1/quarantine"],
  ["POST", "/v1/quarantine/replay", { items: [{ id: 1 }] }],
  ["POST", "/v1/regulations", { regulationType: "DELETE_ONLY", subjectType: "USER_ID", subjectIds: ["x"] }],
  ["GET", "/v1/regulations/reg_x"],
];

function request(method: string, path: string, body: unknown, headers: Record<string, string>) {
  return call(path, {
    method,
    headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

describe("routes that need the secret API key", () => {
  it.each(SECRET_ROUTES)(
    "%s %s answers 401 without a key, with a write key, and with a wrong key",
    async (method, path, body) => {
      const attempts: Record<string, string>[] = [
        {},
        { authorization: basic(WRITE_KEY) },
        { authorization: `Bearer ${WRITE_KEY}` },
        { authorization: "Bearer not-a-key" },
      ];
      for (const headers of attempts) {
        const res = await request(method, path, body, headers);
        expect(res.status).toBe(401);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
      }
    },
  );
});

describe("cross-origin access", () => {
  it("is never open on reads: no preflight approval and no Access-Control-Allow-Origin", async () => {
    const origin = "https://evil.example";
    for (const path of ["/v1/profiles/user_id:someone", "/v1/merge/user_id:someone", "/v1/quarantine"]) {
      const preflight = await call(path, {
        method: "OPTIONS",
        headers: { origin, "access-control-request-method": "GET", "access-control-request-headers": "authorization" },
      });
      expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
      const res = await call(path, { headers: { origin, authorization: "Bearer test-api-key" } });
      expect(res.headers.get("access-control-allow-origin")).toBeNull();
    }
  });

  it("is open on ingestion, which browsers post to from shop pages", async () => {
    const preflight = await call("/v1/batch", {
      method: "OPTIONS",
      headers: { origin: "https://shop.example", "access-control-request-method": "POST" },
    });
    expect(preflight.headers.get("access-control-allow-origin")).toBe("*");
  });
});

describe("what the quarantine keeps", () => {
  it("keeps no write key and only an anonymized client address", async () => {
    const tag = uid("sec");
    await sendBatch([{ type: "track", userId: tag, writeKey: WRITE_KEY, context: { ip: "198.51.100.23" } }]);
    const [row] = (await quarantineRows()).filter((r) => r.payload.includes(tag));
    expect(row).toBeDefined();
    expect(row?.payload).not.toContain(WRITE_KEY);
    expect(row?.payload).not.toContain("198.51.100.23");
    expect(JSON.parse(row?.payload ?? "{}").context).toEqual({ ip: "198.51.100.0" });
  });
});

describe("the merge call's JSON", () => {
  it("carries no invisible direction override or control character from a trait or a catalog title", async () => {
    const userId = uid("bidi");
    const sku = uid("sku");
    await putCatalog([productFixture(sku, { title: "Holiday photo \u202Egnp.exe", categories: ["Bidi"] })]);
    await sendBatch([
      { type: "identify", userId, traits: { firstName: "Ve\u202Era\u0007", address: { city: "Paris\u2066" } } },
      { type: "track", userId, event: "Product Viewed", properties: { product_id: sku, category: "Bidi" } },
    ]);
    const text = await (await read(`/v1/merge/user_id:${userId}`)).text();
    const merge = JSON.parse(text) as {
      profile: { traits: { firstName: string; address: { city: string } } };
      recommendations: { productId: string; title: string }[];
    };
    expect(merge.profile.traits.firstName).toBe("Vera ");
    expect(merge.profile.traits.address.city).toBe("Paris");
    expect(merge.recommendations.find((r) => r.productId === sku)?.title).toBe("Holiday photo gnp.exe");
    expect(text).not.toMatch(/[\u202A-\u202E\u2066-\u2069]/);
    expect(text).not.toContain("\\u0007");
  });
});
