/** Fuzzing operator payloads (catalog, regulations, quarantine replays): 200 or a 4xx, never a 5xx. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { apiKey, call, idLike, jsonValue, runs, TIMEOUT } from "./arbitraries";

/** Sends `body` as JSON with the API key and expects anything but a 5xx. */
async function answersWithout5xx(method: string, path: string, body: unknown) {
  const res = await call(path, {
    method,
    headers: { ...apiKey, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  expect(res.status).toBeLessThan(500);
  await res.arrayBuffer();
}

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
        fc.asyncProperty(fc.oneof(fc.record({ products: fc.array(productish, { maxLength: 4 }) }), jsonValue), (body) =>
          answersWithout5xx("PUT", "/v1/catalog/products", body),
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
          ([path, body]) => answersWithout5xx("POST", path, body),
        ),
        runs(200),
      );
    },
    TIMEOUT,
  );
});
