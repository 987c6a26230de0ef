/**
 * Fuzzing the email loop's tokens and every read route's profile id: an
 * unsealed token never redirects, and no id makes a read fail or the merge
 * call answer anything but 200.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { base64UrlEncode, TOKEN_VERSION } from "../../../src/model/signing";
import { apiKey, call, runs, TIMEOUT } from "./arbitraries";

describe("fuzzing the email loop and reads", () => {
  it(
    "never redirects, and never fails, on a token it did not seal",
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom("o", "c"),
          fc.oneof(
            fc.string({ minLength: 1, maxLength: 300 }),
            fc.tuple(fc.base64String(), fc.base64String()).map(([a, b]) => `${a}.${b}`),
            // Shaped like a sealed token of the current version, but not sealed with the secret.
            fc
              .uint8Array({ minLength: 29, maxLength: 220 })
              .map((bytes) => base64UrlEncode(Uint8Array.of(TOKEN_VERSION, ...bytes.subarray(1)))),
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
            const encoded = encodeURIComponent(id);
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
