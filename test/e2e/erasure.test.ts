/**
 * Erasure end to end against `wrangler dev --persist-to <tmp>`: a shopper
 * browses anonymously, signs in, opens and clicks an e-mail and buys, all
 * through @segment/analytics-node and the public HTTP routes; once the sink
 * has drained, `DELETE /v1/profiles/:id` must leave none of their user id,
 * anonymous id, e-mail address or its hash anywhere the service keeps
 * state, and their next events are dropped while another shopper's are
 * stored. The actors' SQLite files (with their journals) and the R2 objects
 * are scanned byte for byte; the D1 warehouse is read table by table.
 *
 * D1's write-ahead log is not byte-scanned: it keeps superseded page images
 * until SQLite checkpoints over them, and D1 lets no application force that
 * (`PRAGMA wal_checkpoint`, `secure_delete` and `VACUUM` are refused). On
 * Cloudflare the counterpart is D1 Time Travel, which can restore the
 * database as it was for its retention window (README, Privacy).
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Analytics } from "@segment/analytics-node";
import { afterAll, expect, it } from "vitest";
import { E2E_KEYS, startLocalServer } from "../../scripts/local-server.mjs";
import { lakeLines, postBatch, sinkStatus, waitFor } from "./sink-client";

const persistDir = mkdtempSync(join(tmpdir(), "edge-profiles-erasure-"));
let server: Awaited<ReturnType<typeof startLocalServer>> | null = null;

afterAll(async () => {
  await server?.stop();
  rmSync(persistDir, { recursive: true, force: true });
});

const apiAuth = { authorization: `Bearer ${E2E_KEYS.apiKey}` };

async function api<T>(base: string, path: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(`${base}${path}`, {
    ...init,
    headers: { ...apiAuth, "content-type": "application/json", ...init.headers },
  });
  if (!res.ok) throw new Error(`${init.method ?? "GET"} ${path} → ${res.status}: ${await res.text()}`);
  return (await res.json()) as T;
}

/** Every row of every D1 warehouse table, as JSON text, read with `wrangler d1 execute` from the state directory. */
function warehouseText(dir: string): string {
  const d1 = (command: string) => {
    const run = spawnSync(
      join("node_modules", ".bin", "wrangler"),
      ["d1", "execute", "edge-profiles", "--local", "--persist-to", dir, "--json", "--command", command],
      { encoding: "utf8", env: { ...process.env, CI: "1" } },
    );
    if (run.status !== 0) throw new Error(`wrangler d1 execute failed: ${run.stderr || run.stdout}`);
    return JSON.parse(run.stdout) as { results: Record<string, unknown>[] }[];
  };
  const tables = (
    d1("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")[0]?.results ?? []
  )
    .map((r) => String(r.name))
    .filter((name) => !name.startsWith("_cf_"));
  expect(tables).toContain("events");
  return JSON.stringify(d1(tables.map((t) => `SELECT * FROM "${t}"`).join("; ")));
}

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** The actor and R2 files (relative paths) that contain any of these strings, as UTF-8 bytes. */
function filesContaining(dir: string, needles: readonly string[]): Record<string, string[]> {
  const found: Record<string, string[]> = {};
  const patterns = needles.map((n) => Buffer.from(n, "utf8"));
  const stores = ["do", "r2"].map((store) => join(dir, "v3", store));
  for (const path of stores.flatMap(filesUnder)) {
    const bytes = readFileSync(path);
    const hits = needles.filter((_, i) => bytes.includes(patterns[i] as Buffer));
    if (hits.length > 0) found[path.slice(dir.length + 1)] = hits;
  }
  return found;
}

/** Sends with Segment's own Node SDK and waits until it has delivered everything. */
async function sendWithSdk(base: string, send: (analytics: Analytics) => void) {
  const errors: unknown[] = [];
  const analytics = new Analytics({ writeKey: E2E_KEYS.writeKey, host: base, flushAt: 50, maxRetries: 0 });
  analytics.on("error", (err) => errors.push(err));
  send(analytics);
  await analytics.closeAndFlush({ timeout: 20_000 });
  expect(errors).toEqual([]);
}

it("an erased shopper is gone from every actor file, lake object and warehouse table, and their next events are dropped", async () => {
  server = await startLocalServer({ persistDir });
  const base = server.url;
  const suffix = crypto.randomUUID();
  const userId = `erase-user-${suffix}`;
  const anonymousId = `erase-anon-${suffix}`;
  const email = `erase-${suffix}@example.com`;
  const emailHash = createHash("sha256").update(email).digest("hex");
  const bystander = `stay-user-${suffix}`;
  const needles = [userId, anonymousId, email, emailHash];

  await api(base, "/v1/catalog/products", { method: "PUT", body: readFileSync("scripts/demo-catalog.json", "utf8") });
  await sendWithSdk(base, (a) => {
    a.page({ anonymousId, name: "Home", properties: { url: "https://shop.example.com/" } });
    a.track({
      anonymousId,
      event: "Product Viewed",
      properties: { product_id: "sku-002", category: "Running Shoes", brand: "Stride" },
    });
  });
  await sendWithSdk(base, (a) => {
    a.identify({ userId, anonymousId, traits: { email, firstName: "Erin" } });
    a.identify({ userId: bystander, traits: { email: `${bystander}@example.com` } });
  });

  // The e-mail loop: the ESP's merge call, then the recipient opens the mail and clicks a product.
  const merge = await api<{ recommendations: { clickUrl: string }[]; open_pixel_url: string }>(
    base,
    `/v1/merge/user_id:${userId}?campaign=winter`,
  );
  expect((await fetch(merge.open_pixel_url)).status).toBe(200);
  const click = merge.recommendations[0]?.clickUrl;
  expect(click).toBeDefined();
  expect((await fetch(click as string, { redirect: "manual" })).status).toBe(302);
  await sendWithSdk(base, (a) =>
    a.track({
      userId,
      anonymousId,
      event: "Order Completed",
      properties: { order_id: `order-${suffix}`, revenue: 120, products: [{ product_id: "sku-002", price: 120 }] },
    }),
  );

  // Six events of the shopper's (page, view, identify, open, click, order) and the bystander's identify.
  const personEvents = (lines: { profileId: string }[]) =>
    lines.filter((l) => l.profileId === `user_id:${userId}` || l.profileId === `anonymous_id:${anonymousId}`);
  await waitFor(
    () => lakeLines(base),
    (lines) => personEvents(lines).length === 6 && lines.some((l) => l.profileId === `user_id:${bystander}`),
    "the shopper's events in the lake",
  );
  await waitFor(
    () => sinkStatus(base),
    (s) => s.tables.events_pending_lake === 0,
    "the sink to drain",
  );
  // The scans can see the shopper before the erasure, in the actors, the lake and the warehouse. They run with
  // the server stopped: `wrangler d1 execute` beside a running `wrangler dev` can make it restart its Worker.
  await server.stop();
  const before = filesContaining(persistDir, needles);
  for (const store of ["v3/do/", "v3/r2/"]) {
    expect(Object.keys(before).some((path) => path.startsWith(store))).toBe(true);
  }
  const warehouseBefore = warehouseText(persistDir);
  for (const n of [userId, anonymousId, email]) expect(warehouseBefore).toContain(n);
  server = await startLocalServer({ persistDir, port: server.port });

  const erased = await api<{ status: string; removed: { lakeLinesRemoved: number } }>(
    base,
    `/v1/profiles/user_id:${userId}`,
    { method: "DELETE" },
  );
  expect(erased.status).toBe("FINISHED");
  expect(erased.removed.lakeLinesRemoved).toBe(6);

  // Their next events, by user id and by the anonymous id merged into them, are dropped; the bystander's are kept.
  const next = await postBatch(base, [
    { type: "track", userId, event: "Came Back", properties: { email } },
    { type: "page", anonymousId },
    { type: "track", userId: bystander, event: "Still Here" },
  ]);
  expect(((await next.json()) as { accepted: number }).accepted).toBe(3);
  for (const id of [`user_id:${userId}`, `anonymous_id:${anonymousId}`, `email:${email}`]) {
    expect((await fetch(`${base}/v1/profiles/${encodeURIComponent(id)}`, { headers: apiAuth })).status).toBe(404);
  }
  const kept = await waitFor(
    () => api<{ counts: { events: number } }>(base, `/v1/profiles/user_id:${bystander}`),
    (p) => p.counts.events === 2,
    "the bystander's second event",
  );
  expect(kept.counts.events).toBe(2);
  await waitFor(
    () => lakeLines(base),
    (lines) => lines.length === 2,
    "the bystander's events, and only those",
  );
  expect((await sinkStatus(base)).tables.events).toBe(2);

  // Stopped, so nothing is held only in memory; then the state is scanned.
  await server.stop();
  server = null;
  expect(filesContaining(persistDir, needles)).toEqual({});
  const warehouseAfter = warehouseText(persistDir);
  for (const n of needles) expect(warehouseAfter).not.toContain(n);
  expect(warehouseAfter).toContain(bystander);
});
