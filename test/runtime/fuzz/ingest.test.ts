/**
 * Fuzzing ingestion (Tracking API JSON and text bodies, pixel data): nothing
 * answers 5xx; every rejected message is in the quarantine with its reason
 * and changes no profile.
 */
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { apiKey, basic, call, jsonValue, message, runs, TIMEOUT, WRITE_KEY } from "./arbitraries";

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
              const profile = await call(`/v1/profiles/${prefix}:${encodeURIComponent(id)}`, { headers: apiKey });
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
