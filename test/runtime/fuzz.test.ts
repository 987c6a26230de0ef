/**
 * Property-based fuzzing of every public input with fast-check: ingest JSON
 * and text bodies, pixel data, link tokens, profile ids, catalog payloads,
 * regulations and quarantine replays. Whatever arrives, nothing answers 5xx;
 * a rejected message changes no profile and is in the quarantine with its
 * reason. `npm test` runs about 500 cases; `npm run fuzz` ten times as many
 * (FUZZ_RUNS multiplies them).
 */
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { basic, call, WRITE_KEY } from "./helpers";

const RUNS = Math.max(1, Number(env.FUZZ_RUNS ?? "1"));
/**
 * Cases per property in `npm test`: about 500 in all. Each case costs more as
 * the runtime fills with the actors earlier cases created, so `npm run fuzz`
 * (FUZZ_RUNS=10) is where the thousands run.
 */
const runs = (n: number) => ({ numRuns: Math.ceil((n * RUNS) / 5) });
const TIMEOUT = 120_000 * RUNS;
const apiKey = { authorization: "Bearer test-api-key" };

/** Any JSON value, with the strings an attacker favours mixed in. */
const nasty = fc.constantFrom(
  "__proto__",
  "constructor",
  "",
  " ",
  "\u0000",
  "<script>",
  "../../etc",
  "%00",
  "💥",
  "a".repeat(300),
);
const jsonValue = fc.oneof(fc.jsonValue({ maxDepth: 3 }), nasty);
const idLike = fc.oneof(fc.string({ maxLength: 40 }), nasty, jsonValue);

/** A message that is sometimes valid, often nearly so, and sometimes nonsense. */
const message = fc.record(
  {
    type: fc.oneof(fc.constantFrom("track", "identify", "page", "screen", "group", "alias"), idLike),
    userId: idLike,
    anonymousId: idLike,
    event: fc.oneof(fc.constantFrom("Product Viewed", "Order Completed", "Product Added"), idLike),
    name: idLike,
    previousId: idLike,
    groupId: idLike,
    messageId: idLike,
    timestamp: fc.oneof(
      fc
        .date({ noInvalidDate: true, min: new Date("1990-01-01"), max: new Date("2100-01-01") })
        .map((d) => d.toISOString()),
      idLike,
    ),
    sentAt: fc.oneof(
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      idLike,
    ),
    properties: fc.oneof(
      fc.record({ product_id: idLike, category: idLike, price: jsonValue, products: jsonValue }, { requiredKeys: [] }),
      jsonValue,
    ),
    traits: fc.oneof(fc.record({ email: idLike, firstName: idLike }, { requiredKeys: [] }), jsonValue),
    context: fc.oneof(
      fc.record({ ip: idLike, userAgent: idLike, page: jsonValue, consent: jsonValue }, { requiredKeys: [] }),
      jsonValue,
    ),
  },
  { requiredKeys: [] },
);

/** Gives each message's string ids a prefix no other case uses, so its profile is its own. */
function own(messages: unknown[], caseId: string): unknown[] {
  return messages.map((m, i) => {
    if (!m || typeof m !== "object") return m;
    const copy: Record<string, unknown> = { ...(m as Record<string, unknown>) };
    for (const key of ["userId", "anonymousId"]) {
      if (typeof copy[key] === "string" && copy[key] !== "") copy[key] = `${caseId}-${i}-${key}-${copy[key]}`;
    }
    return copy;
  });
}

async function quarantineCount(): Promise<number> {
  return (await env.WAREHOUSE.prepare("SELECT COUNT(*) AS n FROM bad_events").first<{ n: number }>())?.n ?? 0;
}

function encodeId(id: string): string {
  return encodeURIComponent(id);
}

describe("fuzzing ingestion", () => {
  it(
    "never answers 5xx; every rejected message is quarantined with a reason and changes no profile",
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.oneof(message, jsonValue), { minLength: 1, maxLength: 6 }), async (raw) => {
          const caseId = crypto.randomUUID();
          const batch = own(raw, caseId);
          const before = await quarantineCount();
          const res = await call("/v1/batch", {
            method: "POST",
            headers: { authorization: basic(WRITE_KEY), "content-type": "application/json" },
            body: JSON.stringify({ batch }),
          });
          expect(res.status).toBeLessThan(500);
          if (res.status !== 200) return;
          const body = (await res.json()) as {
            accepted: number;
            rejected: { index: number; code: string; reason: string }[];
          };
          expect(body.accepted + body.rejected.length).toBe(batch.length);
          expect((await quarantineCount()) - before).toBe(body.rejected.length);
          for (const r of body.rejected) {
            expect(r.reason.length).toBeGreaterThan(0);
            const m = batch[r.index] as Record<string, unknown> | undefined;
            for (const [key, prefix] of [
              ["userId", "user_id"],
              ["anonymousId", "anonymous_id"],
            ] as const) {
              const id = m?.[key];
              if (typeof id !== "string" || !id.startsWith(caseId) || id.trim().length > 256) continue;
              const profile = await call(`/v1/profiles/${prefix}:${encodeId(id)}`, { headers: apiKey });
              expect([400, 404]).toContain(profile.status);
            }
          }
        }),
        runs(300),
      );
    },
    TIMEOUT,
  );

  it(
    "takes any text body on every ingestion route without a 5xx",
    async () => {
      const routes = ["/v1/batch", "/v1/track", "/v1/identify", "/v1/page", "/v1/alias", "/v1/t", "/v1/b"];
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...routes),
          fc.oneof(
            fc.string({ maxLength: 300 }),
            fc.jsonValue().map((v) => JSON.stringify(v)),
          ),
          fc.constantFrom("text/plain", "application/json", "application/x-www-form-urlencoded", "image/png"),
          async (route, text, type) => {
            const res = await call(route, {
              method: "POST",
              headers: { authorization: basic(WRITE_KEY), "content-type": type },
              body: text,
            });
            expect(res.status).toBeLessThan(500);
            expect(res.headers.get("content-type")).toMatch(/^application\/json/);
          },
        ),
        runs(600),
      );
    },
    TIMEOUT,
  );

  it(
    "answers a GIF to any pixel data",
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom("track", "page", "identify", "other"),
          fc.oneof(
            fc.string({ maxLength: 200 }),
            jsonValue.map((v) => btoa(unescape(encodeURIComponent(JSON.stringify({ writeKey: WRITE_KEY, v }))))),
            message.map((m) => btoa(unescape(encodeURIComponent(JSON.stringify({ ...m, writeKey: WRITE_KEY }))))),
          ),
          async (type, data) => {
            const res = await call(`/v1/pixel/${type}?data=${encodeURIComponent(data)}`);
            expect(res.status).toBe(200);
            expect(res.headers.get("content-type")).toBe("image/gif");
            await res.arrayBuffer();
          },
        ),
        runs(400),
      );
    },
    TIMEOUT,
  );
});

describe("fuzzing the email loop and reads", () => {
  it(
    "never redirects, and never fails, on a token it did not sign",
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom("o", "c"),
          fc.oneof(
            fc.string({ minLength: 1, maxLength: 300 }),
            fc.tuple(fc.base64String(), fc.base64String()).map(([a, b]) => `${a}.${b}`),
          ),
          async (kind, token) => {
            const res = await call(`/${kind}/${encodeURIComponent(token)}`, { redirect: "manual" });
            expect([400, 404]).toContain(res.status);
            expect(res.headers.get("location")).toBeNull();
            await res.arrayBuffer();
          },
        ),
        runs(400),
      );
    },
    TIMEOUT,
  );

  it(
    "answers any profile id on every read route with 200, 400 or 404 — and the merge call always with 200",
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc
            .oneof(
              fc.string({ minLength: 1, maxLength: 300 }),
              fc
                .tuple(
                  fc.constantFrom("user_id:", "anonymous_id:", "email:", "phone:", ""),
                  fc.string({ maxLength: 80 }),
                )
                .map(([p, v]) => p + v),
            )
            // An empty segment, "." or ".." is not an id but another path.
            .filter((id) => id !== "" && id !== "." && id !== ".."),
          async (id) => {
            const encoded = encodeId(id);
            for (const path of [
              `/v1/profiles/${encoded}`,
              `/v1/profiles/${encoded}/events`,
              `/v1/profiles/${encoded}/recommendations`,
              `/v1/profiles/${encoded}/export`,
            ]) {
              const res = await call(path, { headers: apiKey });
              expect([200, 400, 404]).toContain(res.status);
              await res.arrayBuffer();
            }
            const merge = await call(`/v1/merge/${encoded}?format=html`, { headers: apiKey });
            expect(merge.status).toBe(200);
            await merge.arrayBuffer();
          },
        ),
        runs(250),
      );
    },
    TIMEOUT,
  );
});

describe("fuzzing operator payloads", () => {
  it(
    "answers any catalog payload with 200 or a 4xx",
    async () => {
      const productish = fc.record(
        {
          id: idLike,
          title: idLike,
          url: fc.oneof(fc.webUrl(), idLike),
          imageUrl: fc.oneof(fc.webUrl(), idLike),
          price: jsonValue,
          currency: idLike,
          categories: jsonValue,
          brand: idLike,
          inStock: jsonValue,
        },
        { requiredKeys: [] },
      );
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(fc.record({ products: fc.array(productish, { maxLength: 4 }) }), jsonValue),
          async (body) => {
            const res = await call("/v1/catalog/products", {
              method: "PUT",
              headers: { ...apiKey, "content-type": "application/json" },
              body: JSON.stringify(body),
            });
            expect(res.status).toBeLessThan(500);
            await res.arrayBuffer();
          },
        ),
        runs(300),
      );
    },
    TIMEOUT,
  );

  it(
    "answers any regulation or replay payload with 200 or a 4xx",
    async () => {
      const regulation = fc.record(
        {
          regulationType: fc.oneof(
            fc.constantFrom("SUPPRESS_WITH_DELETE", "DELETE_ONLY", "SUPPRESS_ONLY", "UNSUPPRESS"),
            idLike,
          ),
          subjectType: fc.oneof(fc.constantFrom("USER_ID", "ANONYMOUS_ID", "EMAIL"), idLike),
          subjectIds: fc.oneof(
            fc.array(
              fc.uuid().map((u) => `fuzz-${u}`),
              { maxLength: 3 },
            ),
            jsonValue,
          ),
        },
        { requiredKeys: [] },
      );
      const replay = fc.oneof(
        fc.record({
          items: fc.array(fc.record({ id: jsonValue, payload: jsonValue }, { requiredKeys: [] }), { maxLength: 3 }),
        }),
        jsonValue,
      );
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            regulation.map((b) => ["/v1/regulations", b] as const),
            replay.map((b) => ["/v1/quarantine/replay", b] as const),
          ),
          async ([path, body]) => {
            const res = await call(path, {
              method: "POST",
              headers: { ...apiKey, "content-type": "application/json" },
              body: JSON.stringify(body),
            });
            expect(res.status).toBeLessThan(500);
            await res.arrayBuffer();
          },
        ),
        runs(200),
      );
    },
    TIMEOUT,
  );
});
