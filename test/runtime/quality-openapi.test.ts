/**
 * The data-quality routes keep the contract /openapi.json publishes (DESIGN
 * §9): each route is driven for real — a plan saved and broken, a quality
 * run carried out by its Queue, look-alike people compared — and every
 * answer is parsed with the strict zod schema the document is generated
 * from, so a field added, dropped or retyped on either side fails here. The
 * merge route's behaviour has its own tests; here it is only listed.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { z } from "zod";
import {
  duplicatesView,
  qualityRunList,
  qualityRunStarted,
  qualityRunView,
  trackingPlanView,
  violationsPage,
} from "../../src/model/quality-views";
import { API_KEY, call, eventually, readJson, sendBatch, uid } from "./helpers";

const METRICS_KEY = "test-metrics-key";
const auth = { authorization: `Bearer ${API_KEY}` };

/** A 200 answer parsed strictly: the parse throws, naming the field, when the answer leaves the contract. */
async function parsed<S extends z.ZodType>(s: S, path: string): Promise<z.infer<S>> {
  return s.parse(await readJson(path));
}

const plan = {
  events: {
    "Product Viewed": {
      type: "object",
      required: ["product_id", "price"],
      properties: { product_id: { type: "string" }, price: { type: "number" } },
    },
  },
  traits: { type: "object", properties: { email: { type: "string", format: "email" } } },
  unplanned: "flag",
  violations: "block",
};

interface OpenApi {
  paths: Record<string, Record<string, { security?: Record<string, unknown>[]; responses: Record<string, unknown> }>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
}

describe("the data-quality routes answer what /openapi.json says", () => {
  it("lists every path and method, each answer's schema among the components", async () => {
    const res = await call("/openapi.json");
    expect(res.status).toBe(200);
    const doc = (await res.json()) as OpenApi;
    const methods = (path: string) => Object.keys(doc.paths[path] ?? {}).sort();
    expect(methods("/v1/tracking-plan")).toEqual(["delete", "get", "put"]);
    expect(methods("/v1/tracking-plan/violations")).toEqual(["get"]);
    expect(methods("/v1/quality/runs")).toEqual(["get", "post"]);
    expect(methods("/v1/quality/runs/{id}")).toEqual(["get"]);
    expect(methods("/v1/quality")).toEqual(["get"]);
    expect(methods("/v1/quality/duplicates")).toEqual(["get"]);
    expect(methods("/v1/profiles/merge")).toEqual(["post"]);
    expect(methods("/metrics")).toEqual(["get"]);

    const refs = JSON.stringify(doc.paths).match(/#\/components\/schemas\/\w+/g) ?? [];
    const missing = refs
      .map((r) => r.slice("#/components/schemas/".length))
      .filter((n) => !(n in doc.components.schemas));
    expect(missing).toEqual([]);
    expect(doc.paths["/metrics"]?.get?.security).toEqual([{ metricsKey: [] }]);
    expect(doc.components.securitySchemes.metricsKey).toMatchObject({ type: "http", scheme: "bearer" });
    expect(doc.paths["/metrics"]?.get?.responses["200"]).toMatchObject({ content: { "text/plain": {} } });
  });

  it("a saved plan, its violations page by page, and its removal", async () => {
    expect(await parsed(violationsPage, "/v1/tracking-plan/violations")).toEqual({
      version: null,
      counts: [],
      items: [],
      next: null,
    });
    const put = await call("/v1/tracking-plan", {
      method: "PUT",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify(plan),
    });
    expect(put.status).toBe(200);
    const saved = trackingPlanView.parse(await put.json());
    expect(await parsed(trackingPlanView, "/v1/tracking-plan")).toEqual(saved);

    const user = uid("contract");
    const res = await sendBatch([
      { type: "track", event: "Product Viewed", userId: user, properties: { product_id: "p1", price: 3 } },
      { type: "track", event: "Product Viewed", userId: user, properties: { product_id: "p1", colour: "red" } },
      { type: "track", event: "Coupon Entered", userId: user },
      { type: "identify", anonymousId: user, traits: { email: "nobody" } },
    ]);
    expect(res.accepted).toBe(2);

    const first = await parsed(violationsPage, "/v1/tracking-plan/violations?limit=2");
    expect(first.version).toBe(saved.version);
    expect(first.counts.length).toBeGreaterThanOrEqual(4);
    expect(new Set(first.items.map((i) => i.action))).toEqual(new Set(["flag", "block"]));
    expect(first.next).not.toBeNull();
    const second = await parsed(violationsPage, `/v1/tracking-plan/violations?limit=2&before=${first.next}`);
    expect(second.items.map((i) => i.messageId)).not.toContain(first.items[0]?.messageId);
    await parsed(violationsPage, `/v1/tracking-plan/violations?event=Coupon%20Entered&version=${saved.version}`);

    expect((await call("/v1/tracking-plan", { method: "DELETE", headers: auth })).status).toBe(204);
    expect((await call("/v1/tracking-plan", { headers: auth })).status).toBe(404);
    await parsed(violationsPage, "/v1/tracking-plan/violations");
  });

  it("look-alike people, compared with the evidence", async () => {
    const [a, b] = [`user_id:${uid("jane")}`, `user_id:${uid("jane")}`];
    const now = Date.now();
    await env.WAREHOUSE.prepare(
      `INSERT INTO profiles (profile_id, user_id, anonymous_ids, traits, group_ids, first_seen, last_seen, event_count,
         session_count, version, updated_at)
       VALUES (?1, substr(?1, 9), '[]', ?2, '[]', ?4, ?4, 1, 1, 1, ?4),
              (?3, substr(?3, 9), '[]', ?5, '[]', ?4, ?4, 1, 1, 1, ?4)`,
    )
      .bind(
        a,
        JSON.stringify({ email: "Jane.Doe@gmail.com", name: "Jane Doe", phone: "+1 415 555 0100" }),
        b,
        now,
        JSON.stringify({ email: "janedoe@gmail.com", firstName: "Jane", lastName: "Doe", phone: "(415) 555-0100" }),
      )
      .run();
    const page = await parsed(duplicatesView, "/v1/quality/duplicates?limit=1000");
    const pair = page.items.find((p) => [p.a, p.b].sort().join() === [a, b].sort().join());
    expect(pair?.evidence.length).toBeGreaterThan(0);
  });

  it("a quality run, started, followed to its end, and read as the latest", async () => {
    const post = await call("/v1/quality/runs", { method: "POST", headers: auth });
    expect(post.status).toBe(202);
    const { id } = qualityRunStarted.parse(await post.json());
    expect(post.headers.get("location")).toBe(`/v1/quality/runs/${id}`);

    let run = await parsed(qualityRunView, `/v1/quality/runs/${id}`);
    await eventually(
      async () => {
        run = await parsed(qualityRunView, `/v1/quality/runs/${id}`);
        return run.finishedAt !== null;
      },
      `quality run ${id} to finish`,
      60_000,
    );
    expect(run.checks.length).toBeGreaterThan(0);
    // The duplicate check's fail bound is Infinity, which JSON carries as null.
    expect(run.checks.find((c) => c.check === "duplicates.people")?.threshold.fail).toBeNull();
    expect(await parsed(qualityRunView, "/v1/quality")).toEqual(run);
    // The list of runs, newest first, holds it too.
    expect((await parsed(qualityRunList, "/v1/quality/runs?limit=5")).items[0]).toEqual(run);
  });

  it("metrics in the Prometheus text format, for the metrics key", async () => {
    const res = await call("/metrics", { headers: { authorization: `Bearer ${METRICS_KEY}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(await res.text()).toMatch(/^# (HELP|TYPE) /m);
  });
});
