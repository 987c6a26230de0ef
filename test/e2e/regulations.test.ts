/**
 * A regulation at its limits, against a real `wrangler dev`: 1,000 subject
 * ids of 256 characters (the most a Queue message could not carry in one
 * piece) are accepted, carried out through the regulations Queue and all
 * finish, and the known person among them is erased. Here rather than in
 * the vitest pool, where each new Durable Object costs more than the one
 * before (the pool's wrappers accumulate), so a thousand of them take minutes.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { E2E_KEYS, startLocalServer } from "../../scripts/local-server.mjs";
import { postBatch, waitFor } from "./sink-client";

let server: Awaited<ReturnType<typeof startLocalServer>>;

beforeAll(async () => {
  server = await startLocalServer();
});

afterAll(async () => {
  await server?.stop();
});

const apiAuth = { authorization: `Bearer ${E2E_KEYS.apiKey}`, "content-type": "application/json" };

interface RegulationView {
  overallStatus: string;
  counts: Record<string, number>;
}

it("accepts 1,000 subject ids of 256 characters, finishes every one and erases the person among them", async () => {
  const known = `known-${crypto.randomUUID()}`.padEnd(256, "k");
  expect((await postBatch(server.url, [{ type: "identify", userId: known, traits: { plan: "pro" } }])).status).toBe(
    200,
  );
  const profile = () => fetch(`${server.url}/v1/profiles/user_id:${encodeURIComponent(known)}`, { headers: apiAuth });
  expect((await profile()).status).toBe(200);

  const ids = Array.from({ length: 999 }, (_, i) => `${i}-${crypto.randomUUID()}`.padEnd(256, "z"));
  ids.splice(500, 0, known);
  const started = Date.now();
  const res = await fetch(`${server.url}/v1/regulations`, {
    method: "POST",
    headers: apiAuth,
    body: JSON.stringify({ regulationType: "SUPPRESS_WITH_DELETE", subjectType: "USER_ID", subjectIds: ids }),
  });
  expect(res.status).toBe(200);
  const { data } = (await res.json()) as { data: { regulateId: string } };

  const done = await waitFor(
    async () => {
      const view = await fetch(`${server.url}/v1/regulations/${data.regulateId}`, { headers: apiAuth });
      return ((await view.json()) as { data: { regulation: RegulationView } }).data.regulation;
    },
    (v) => v.overallStatus === "FINISHED" || v.overallStatus === "FAILED",
    "the regulation to finish",
    110_000,
  );
  console.log(`1,000 subjects finished in ${Date.now() - started} ms`);
  expect(done).toMatchObject({ overallStatus: "FINISHED", counts: { FINISHED: 1000, FAILED: 0 } });
  expect((await profile()).status).toBe(404);
}, 120_000);
