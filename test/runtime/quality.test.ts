/**
 * Quality checks against a seeded warehouse (DESIGN §9): eight days of
 * events, profiles and lake objects planted straight into D1 and R2 as the
 * sink would have written them. A clean warehouse passes every check; then
 * three faults are planted — a tenth of today's product views without a
 * price, today's page views at half their volume, one lake object removed —
 * and exactly those three checks fail, each naming its fault in its sample,
 * while nothing else is flagged. Failed checks open one alert incident each,
 * however many runs see them, and fixing the fault resolves it.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { API_KEY, call, readJson } from "./helpers";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = Date.now();

interface Check {
  check: string;
  status: "pass" | "warn" | "fail";
  observed: number | null;
  detail: string;
  sample: Record<string, unknown>[];
}
interface Run {
  id: string;
  status: string;
  finishedAt: string | null;
  checks: Check[];
}

type Row = [string, string, string | null, string, string | null, number, string | null, string, string, string];

const PRODUCTS = Array.from({ length: 20 }, (_, i) => ({ id: `p${i}`, price: 10 + i * 7.5 }));
const FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim"];
const LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman", "Lee"];

/** A steady day's count, wobbling a few percent from day to day (never the same, never much). */
const wobble = (base: number, day: number) => Math.round(base * (1 + (((day * 37) % 9) - 4) / 100));

/** Eight days of traffic ending now; day 0 is the last 24 hours. */
function plannedEvents(): { rows: Row[]; noPrice: string[] } {
  const rows: Row[] = [];
  const noPrice: string[] = [];
  for (let day = 0; day < 8; day++) {
    const add = (
      type: string,
      name: string | null,
      n: number,
      body: (i: number) => Partial<Record<string, unknown>>,
    ) => {
      for (let i = 0; i < n; i++) {
        // Spread over the day, the newest a minute before now.
        const ts = NOW - day * DAY - 60_000 - Math.floor(((i + 0.5) / n) * (DAY - 120_000));
        const person = `user_id:seed-${(i * 7 + day) % 100}`;
        const b = body(i);
        const id = `seed-${day}-${type}-${name ?? ""}-${i}`;
        rows.push([
          id,
          person,
          name,
          type,
          (b.productId as string | undefined) ?? null,
          ts,
          null,
          JSON.stringify(b.properties ?? {}),
          JSON.stringify(b.traits ?? {}),
          "",
        ]);
      }
    };
    add("track", "Product Viewed", wobble(200, day), (i) => {
      const p = PRODUCTS[i % PRODUCTS.length] ?? { id: "p0", price: 10 };
      return { productId: p.id, properties: { product_id: p.id, price: p.price, currency: "EUR" } };
    });
    add("track", "Order Completed", wobble(40, day), (i) => ({
      properties: { order_id: `o-${day}-${i}`, revenue: 50 },
    }));
    add("identify", null, wobble(30, day), (i) => ({
      traits: { email: `person${i}.day${day}@example.com`, plan: "free" },
    }));
    add("page", "Home", wobble(100, day), () => ({ properties: { path: "/" } }));
  }
  return { rows, noPrice };
}

function lakeKeyOf(ts: number, n: number): string {
  const iso = new Date(ts).toISOString();
  return `raw/events/dt=${iso.slice(0, 10)}/hour=${iso.slice(11, 13)}/seed-${n}.ndjson`;
}

/** Writes events as the sink would: rows in D1 with their lake key, and the lake objects holding them. */
async function plant(rows: Row[]) {
  const keyed = rows.map((r) => {
    const ts = r[5];
    return { r, key: lakeKeyOf(ts, Math.floor(ts / (20 * 60_000)) % 3) };
  });
  for (let i = 0; i < keyed.length; i += 400) {
    const part = keyed.slice(i, i + 400).map(({ r, key }) => [...r.slice(0, 9), key]);
    await env.WAREHOUSE.prepare(
      `INSERT INTO events (message_id, profile_id, user_id, anonymous_id, type, name, timestamp, received_at,
         session_number, product_id, revenue, properties, traits, context, lake_key, loaded_at)
       SELECT json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'),
         substr(json_extract(j.value, '$[1]'), 9), NULL, json_extract(j.value, '$[3]'), json_extract(j.value, '$[2]'),
         json_extract(j.value, '$[5]'), json_extract(j.value, '$[5]'), NULL, json_extract(j.value, '$[4]'), 0,
         json_extract(j.value, '$[7]'), json_extract(j.value, '$[8]'), '{}', json_extract(j.value, '$[9]'),
         json_extract(j.value, '$[5]') + 2000
       FROM json_each(?) AS j WHERE true ON CONFLICT (message_id) DO NOTHING`,
    )
      .bind(JSON.stringify(part))
      .run();
  }
  const byKey = new Map<string, string[]>();
  for (const { r, key } of keyed) byKey.set(key, [...(byKey.get(key) ?? []), JSON.stringify({ messageId: r[0] })]);
  for (const [key, lines] of byKey) {
    await env.LAKE.put(key, `${lines.join("\n")}\n`, { customMetadata: { lines: String(lines.length) } });
  }
  return [...byKey.keys()];
}

async function plantPeople() {
  const people = FIRST.flatMap((first, i) =>
    LAST.slice(0, 5).map((last, j) => ({
      id: `user_id:person-${i}-${j}`,
      traits: {
        name: `${first} ${LAST[(i + j * 3) % LAST.length] ?? last}`,
        email: `${first}.${i}${j}@corp${j}.example`,
      },
    })),
  );
  await env.WAREHOUSE.prepare(
    `INSERT INTO profiles (profile_id, user_id, anonymous_ids, traits, group_ids, first_seen, last_seen, event_count,
       session_count, version, updated_at)
     SELECT json_extract(j.value, '$.id'), substr(json_extract(j.value, '$.id'), 9), '[]', json_extract(j.value, '$.traits'),
       '[]', ?, ?, 1, 1, 1, ?
     FROM json_each(?) AS j WHERE true`,
  )
    .bind(NOW - DAY, NOW, NOW, JSON.stringify(people.map((p) => ({ id: p.id, traits: JSON.stringify(p.traits) }))))
    .run();
  await env.WAREHOUSE.prepare(
    `INSERT INTO sink_stats (name, value) VALUES ('last_lag_ms', 1500), ('last_batch_at', ?)
     ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
  )
    .bind(NOW - 30_000)
    .run();
}

async function runChecks(): Promise<Run> {
  const started = await call("/v1/quality/runs", { method: "POST", headers: { authorization: `Bearer ${API_KEY}` } });
  expect(started.status).toBe(202);
  const { id } = (await started.json()) as { id: string };
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const run = await readJson<Run>(`/v1/quality/runs/${id}`);
    if (run.finishedAt !== null) return run;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`quality run ${id} did not finish within 60 s`);
}

const statuses = (run: Run) => Object.fromEntries(run.checks.map((c) => [c.check, c.status]));
const checkOf = (run: Run, name: string) => {
  const found = run.checks.find((c) => c.check === name);
  if (!found) throw new Error(`no check ${name} in ${run.checks.map((c) => c.check).join(", ")}`);
  return found;
};

async function incidents() {
  return (
    await env.WAREHOUSE.prepare("SELECT key, resolved_at AS resolvedAt FROM alert_incidents ORDER BY id").all<{
      key: string;
      resolvedAt: number | null;
    }>()
  ).results;
}

const ALL_CHECKS = [
  "completeness.identify_email",
  "completeness.product_price",
  "validity.email",
  "validity.price",
  "freshness.sink_lag",
  "freshness.outbox_age",
  "volume.anomaly",
  "reconciliation.lake",
  "duplicates.people",
];

describe("quality checks on a seeded warehouse", () => {
  let keys: string[] = [];

  beforeAll(async () => {
    keys = await plant(plannedEvents().rows);
    await plantPeople();
  });

  it("pass on a clean warehouse: nothing flagged", async () => {
    const run = await runChecks();
    expect(run.checks.map((c) => c.check)).toEqual(ALL_CHECKS);
    expect(statuses(run)).toEqual(Object.fromEntries(ALL_CHECKS.map((c) => [c, "pass"])));
    expect(run.status).toBe("pass");
    expect(checkOf(run, "completeness.product_price").observed).toBe(0);
    // Each check looked at the seeded data (a check that saw nothing would pass too).
    expect(checkOf(run, "volume.anomaly").detail).toBe(
      "4 event names' last 24 hours are in line with the 7 days before",
    );
    expect(checkOf(run, "completeness.identify_email").detail).toBe(
      `0 of ${wobble(30, 0)} identify calls in the last 24 hours had no e-mail (0.00%)`,
    );
    expect(checkOf(run, "validity.price").detail).toMatch(new RegExp(`^0 of ${wobble(200, 0)} prices`));
    expect(checkOf(run, "freshness.outbox_age").detail).toMatch(/within 2\.0 s of arriving$/);
    expect(checkOf(run, "duplicates.people").detail).toMatch(/^0 pairs among the 50 newest profiles/);
    expect(checkOf(run, "reconciliation.lake").detail).toMatch(/equal the warehouse's rows in all \d+ hours/);
  });

  it("find each planted fault, and only those", async () => {
    // Fault 1: a tenth of today's product views lose their price.
    const stripped = await env.WAREHOUSE.prepare(
      `UPDATE events SET properties = json_remove(properties, '$.price')
       WHERE name = 'Product Viewed' AND timestamp >= ?
         AND CAST(substr(message_id, length('seed-0-track-Product Viewed-') + 1) AS INTEGER) % 10 = 0
       RETURNING message_id AS id`,
    )
      .bind(NOW - DAY)
      .all<{ id: string }>();
    expect(stripped.results.length).toBe(Math.ceil(wobble(200, 0) / 10));
    // Fault 2: today's page views at half their volume (every other one never arrived).
    await env.WAREHOUSE.prepare(
      `DELETE FROM events WHERE type = 'page' AND timestamp >= ?
         AND CAST(substr(message_id, length('seed-0-page-Home-') + 1) AS INTEGER) % 2 = 1`,
    )
      .bind(NOW - DAY)
      .run();
    // The lake keeps what the warehouse kept: its objects are rewritten for the deleted page views, like an erasure would.
    await rewriteLake(keys);
    // Fault 3: one lake object, two days ago, is gone.
    const removed = keys.find((k) => k.includes(`dt=${new Date(NOW - 2 * DAY).toISOString().slice(0, 10)}/hour=12/`));
    expect(removed).toBeDefined();
    await env.LAKE.delete(removed ?? "");

    const run = await runChecks();
    expect(statuses(run)).toEqual({
      ...Object.fromEntries(ALL_CHECKS.map((c) => [c, "pass"])),
      "completeness.product_price": "fail",
      "volume.anomaly": "fail",
      "reconciliation.lake": "fail",
    });
    expect(run.status).toBe("fail");

    const price = checkOf(run, "completeness.product_price");
    expect(price.observed).toBeCloseTo(stripped.results.length / (await todayCount("Product Viewed")), 6);
    const strippedIds = new Set(stripped.results.map((r) => r.id));
    expect(price.sample.length).toBe(5);
    expect(price.sample.every((s) => strippedIds.has(String(s.messageId)))).toBe(true);

    const volume = checkOf(run, "volume.anomaly");
    expect(volume.observed).toBe(1);
    expect(volume.sample).toEqual([expect.objectContaining({ name: "page" })]);
    expect(Number(volume.sample[0]?.change)).toBeCloseTo(-0.5, 1);

    const lake = checkOf(run, "reconciliation.lake");
    expect(lake.observed).toBe(1);
    expect(lake.sample).toEqual([expect.objectContaining({ missingObjects: [removed] })]);

    // One incident per failed check, announced once.
    expect((await incidents()).map((i) => [i.key, i.resolvedAt])).toEqual([
      ["check:completeness.product_price", null],
      ["check:volume.anomaly", null],
      ["check:reconciliation.lake", null],
    ]);
  });

  it("keeps one incident per fault across runs, and resolves the one whose fault is fixed", async () => {
    await runChecks();
    expect(await incidents()).toHaveLength(3);
    // The prices come back.
    await env.WAREHOUSE.prepare(
      `UPDATE events SET properties = json_set(properties, '$.price', 10) WHERE name = 'Product Viewed' AND timestamp >= ?`,
    )
      .bind(NOW - DAY)
      .run();
    const run = await runChecks();
    expect(checkOf(run, "completeness.product_price").status).toBe("pass");
    const after = await incidents();
    expect(after).toHaveLength(3);
    expect(after.find((i) => i.key === "check:completeness.product_price")?.resolvedAt).not.toBeNull();
    expect(after.filter((i) => i.resolvedAt === null).map((i) => i.key)).toEqual([
      "check:volume.anomaly",
      "check:reconciliation.lake",
    ]);
    // The latest run is what GET /v1/quality answers.
    expect((await readJson<Run>("/v1/quality")).id).toBe(run.id);
  });

  it("answers an unknown run with 404, and needs the API key", async () => {
    expect((await call("/v1/quality/runs/nope", { headers: { authorization: `Bearer ${API_KEY}` } })).status).toBe(404);
    expect((await call("/v1/quality/runs", { method: "POST" })).status).toBe(401);
  });
});

async function todayCount(name: string): Promise<number> {
  const row = await env.WAREHOUSE.prepare("SELECT COUNT(*) AS n FROM events WHERE name = ? AND timestamp >= ?")
    .bind(name, NOW - DAY)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

/** Rewrites each lake object to hold exactly the warehouse rows that name it. */
async function rewriteLake(keys: readonly string[]) {
  for (const key of keys) {
    const { results } = await env.WAREHOUSE.prepare("SELECT message_id AS id FROM events WHERE lake_key = ?")
      .bind(key)
      .all<{ id: string }>();
    const body = results.map((r) => JSON.stringify({ messageId: r.id })).join("\n");
    await env.LAKE.put(key, results.length ? `${body}\n` : "", { customMetadata: { lines: String(results.length) } });
  }
}
