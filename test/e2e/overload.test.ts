/**
 * `npm start`'s runtime past its capacity. One machine holds every actor, and
 * workerd caps the SQLite memory of all of them together: the README's
 * largest batch (2,500 messages for 2,500 different people) must still be
 * stored whole, and a burst of many such requests must be answered 503 with
 * `Retry-After` for what the service cannot take in time — never a hang, a
 * crash or a loss. A client that honours `Retry-After` (as Segment's SDKs do)
 * then gets every event into the warehouse exactly once.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { startProductionServer } from "../../scripts/local-server.mjs";
import { sinkStatus, waitFor, writeAuth } from "./sink-client";

let server: Awaited<ReturnType<typeof startProductionServer>>;

beforeAll(async () => {
  server = await startProductionServer();
});

afterAll(async () => {
  await server?.stop();
});

const runId = crypto.randomUUID().slice(0, 8);
const BURST_REQUESTS = 25;

/** One "Product Viewed" per person, for `people` people never seen before. */
function newPeople(prefix: string, people: number) {
  return Array.from({ length: people }, (_, i) => ({
    type: "track",
    userId: `${runId}-${prefix}-${i}`,
    messageId: `${runId}-${prefix}-${i}`,
    event: "Product Viewed",
    properties: { product_id: `sku-00${1 + (i % 9)}`, category: "Running Shoes" },
  }));
}

function post(batch: unknown[]): Promise<Response> {
  return fetch(`${server.url}/v1/batch`, {
    method: "POST",
    // A fresh connection per request, as a fleet of separate senders would have.
    headers: { authorization: writeAuth, "content-type": "application/json", connection: "close" },
    body: JSON.stringify({ batch }),
  });
}

/** Connections the client saw dropped during the burst (each retried). */
const networkErrors: string[] = [];

interface Refusal {
  status: number;
  retryAfter: string | null;
  code: string;
}

/** Sends until accepted, waiting what each 503 says; answers every refusal seen on the way. */
async function sendHonouringRetryAfter(batch: unknown[]): Promise<Refusal[]> {
  const refusals: Refusal[] = [];
  for (let attempt = 0; attempt < 60; attempt++) {
    let res: Response;
    try {
      res = await post(batch);
    } catch (err) {
      // A dropped connection is retried, as Segment's SDKs do; counted, so the test shows how often.
      networkErrors.push(String((err as Error).cause ?? err));
      await new Promise((r) => setTimeout(r, 1000));
      continue;
    }
    const body = (await res.json()) as { accepted?: number; error?: { code: string } };
    if (res.status === 200) {
      expect(body.accepted).toBe(batch.length);
      return refusals;
    }
    const retryAfter = res.headers.get("retry-after");
    refusals.push({ status: res.status, retryAfter, code: body.error?.code ?? "" });
    await new Promise((r) => setTimeout(r, Number(retryAfter ?? 5) * 1000));
  }
  throw new Error(`not accepted after 60 attempts: ${JSON.stringify(refusals.slice(-3))}`);
}

it("stores a batch of 2,500 messages for 2,500 different people whole", async () => {
  const batch = newPeople("big", 2_500);
  const res = await post(batch);
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({ success: true, accepted: 2_500, rejected: [] });
});

it("answers a burst past its capacity with 503 and Retry-After, and lands every event once for a client that waits", async () => {
  // 25 requests of 100 people never seen: about 30 s of the runtime's thread at once, past any request's 7 s budget.
  const requests = Array.from({ length: BURST_REQUESTS }, (_, r) => newPeople(`burst-${r}`, 100));
  const refusals = (await Promise.all(requests.map(sendHonouringRetryAfter))).flat();

  // The burst was more than the machine takes at once: some requests were refused, each saying when to come back.
  expect(refusals.length).toBeGreaterThan(0);
  for (const r of refusals) {
    expect(r.status).toBe(503);
    expect(["overloaded", "unavailable"]).toContain(r.code);
    expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1);
  }

  // 2,500 + 2,500 people, one event each: all in D1, none twice (events are keyed by messageId).
  const expected = 2_500 + BURST_REQUESTS * 100;
  const status = await waitFor(
    () => sinkStatus(server.url),
    (s) => s.tables.events >= expected,
    `${expected} events in the warehouse`,
    180_000,
  );
  expect(status.tables.events).toBe(expected);
  expect(status.tables.profiles).toBe(expected);
  expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  // Reported rather than asserted: under this burst a few connections have been reset (see docs/performance.md).
  if (networkErrors.length > 0)
    console.warn(`${networkErrors.length} connections dropped and retried:`, networkErrors[0]);
}, 600_000);

it("keeps delivering afterwards: a lone event, then another after a pause, each reaches the warehouse within seconds", async () => {
  // The Queue hands over a partly filled batch only on its timer; a broker that wedged under the burst would
  // still take these events and never deliver them (docs/performance.md, "the sink stopped in the full runs").
  for (let round = 0; round < 2; round++) {
    const before = (await sinkStatus(server.url)).tables.events;
    const res = await post(newPeople(`after-${round}`, 1));
    expect(res.status).toBe(200);
    await waitFor(
      () => sinkStatus(server.url),
      (s) => s.tables.events === before + 1,
      `round ${round}'s event in the warehouse`,
      15_000,
    );
    // Longer than a keep-alive connection stays idle in Node (5 s): the runtime's own connections must survive it.
    await new Promise((r) => setTimeout(r, 6_000));
  }
}, 120_000);
