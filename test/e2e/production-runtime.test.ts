/**
 * `npm start`'s production runtime — the `wrangler deploy` bundle in workerd
 * through Miniflare, no dev proxy — driven by @segment/analytics-node as a
 * shop's server would: the profile, the merge block and the warehouse rows
 * come back over HTTP, and the state survives a stop (SIGTERM) and a restart
 * on the same directory.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Analytics } from "@segment/analytics-node";
import { afterAll, expect, it } from "vitest";
import { E2E_KEYS, startProductionServer } from "../../scripts/local-server.mjs";
import type { ProfileView as Profile } from "../../src/model/views";
import { lakeLines, sinkStatus, waitFor } from "./sink-client";

const persistDir = mkdtempSync(join(tmpdir(), "edge-profiles-start-e2e-"));
let server: Awaited<ReturnType<typeof startProductionServer>> | null = null;

afterAll(async () => {
  await server?.stop();
  rmSync(persistDir, { recursive: true, force: true });
});

const auth = { authorization: `Bearer ${E2E_KEYS.apiKey}` };

async function api<T>(base: string, path: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(`${base}${path}`, { ...init, headers: { ...auth, ...init.headers } });
  if (!res.ok) throw new Error(`${init.method ?? "GET"} ${path} → ${res.status}: ${await res.text()}`);
  return (await res.json()) as T;
}

it("serves the deploy bundle: SDK events become a profile, a merge block and warehouse rows, kept across a restart", async () => {
  server = await startProductionServer({ persistDir });
  const base = server.url;
  const catalog = readFileSync("scripts/demo-catalog.json", "utf8");
  await api(base, "/v1/catalog/products", {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: catalog,
  });

  const userId = `start-${crypto.randomUUID()}`;
  const errors: unknown[] = [];
  const analytics = new Analytics({ writeKey: E2E_KEYS.writeKey, host: base, flushAt: 20, maxRetries: 0 });
  analytics.on("error", (err) => errors.push(err));
  analytics.identify({ userId, traits: { email: `${userId}@example.com`, firstName: "Ada" } });
  for (const productId of ["sku-001", "sku-002"]) {
    analytics.track({
      userId,
      event: "Product Viewed",
      properties: { product_id: productId, category: "Running Shoes" },
    });
  }
  await analytics.closeAndFlush({ timeout: 20_000 });
  expect(errors).toEqual([]);

  const profile = await api<Profile>(base, `/v1/profiles/email:${userId}@example.com`);
  expect(profile).toMatchObject({ userId, traits: { firstName: "Ada" }, counts: { events: 3 } });
  expect(profile.affinities[0]?.dimension).toBe("category:running-shoes");
  const block = await fetch(`${base}/v1/merge/user_id:${userId}?format=html`, { headers: auth });
  expect(block.status).toBe(200);
  expect(await block.text()).toContain("Picked for you, Ada");

  // Through the Queue into D1 and the lake, as on Cloudflare.
  await waitFor(
    () => sinkStatus(base),
    (s) => s.tables.events >= 3 && s.tables.events_pending_lake === 0,
    "the sink",
  );
  const lines = (await lakeLines(base)).filter((l) => l.profileId === `user_id:${userId}`);
  expect(lines).toHaveLength(3);

  await server.stop();
  server = await startProductionServer({ persistDir });
  const again = await api<Profile>(server.url, `/v1/profiles/user_id:${userId}`);
  expect(again.counts.events).toBe(3);
  expect((await sinkStatus(server.url)).tables.events).toBe(3);
});
