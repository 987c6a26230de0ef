/**
 * Computed traits API (DESIGN §8), secret API key: define a per-person
 * aggregation over one event (it applies from the next event each person
 * sends, starting from what their actor still holds), list them, delete one.
 * Values are read on `GET /v1/profiles/:id` and in the merge JSON.
 */
import { Hono } from "hono";
import { invalidateDefinitions } from "../audiences/cache";
import {
  deleteComputedTrait,
  listAudiences,
  listComputedTraits,
  putComputedTrait,
  type StoredTrait,
} from "../audiences/store";
import { warehouseDb } from "../catalog/store";
import type { ComputedTraitResponse } from "../model/audience-views";
import { computedKeysOf } from "../model/audiences";
import { computedTraitDefinition, TRAIT_KEY, TRAIT_KEY_RULE } from "../model/computed-traits";
import { findUnsafeKey } from "../model/validate";
import type { AppEnv } from "./app-env";
import { requireApiKey } from "./auth";
import { readJsonBody } from "./body";
import { ApiError, invalidBody } from "./errors";

export const computedTraitRoutes = new Hono<AppEnv>();
computedTraitRoutes.use("/v1/computed-traits", requireApiKey());
computedTraitRoutes.use("/v1/computed-traits/*", requireApiKey());

/** Each is evaluated on every matching event of every person: a bound keeps ingestion's cost in check. */
export const MAX_COMPUTED_TRAITS = 100;
const MAX_BODY_BYTES = 8 * 1024;

export function traitKeyParam(raw: string | undefined): string {
  const key = raw ?? "";
  if (!TRAIT_KEY.test(key)) throw new ApiError(400, "invalid_computed_trait_key", TRAIT_KEY_RULE);
  return key;
}

export function computedTraitView(t: StoredTrait): ComputedTraitResponse {
  return {
    key: t.key,
    ...t.definition,
    createdAt: new Date(t.createdAt).toISOString(),
    updatedAt: new Date(t.updatedAt).toISOString(),
  };
}

computedTraitRoutes.put("/v1/computed-traits/:key", async (c) => {
  const key = traitKeyParam(c.req.param("key"));
  const body = await readJsonBody(c.req.raw, MAX_BODY_BYTES, "computed trait");
  const unsafe = findUnsafeKey(body);
  if (unsafe) throw new ApiError(400, "invalid_computed_trait", unsafe);
  const parsed = computedTraitDefinition.safeParse(body);
  if (!parsed.success) {
    throw invalidBody("invalid_computed_trait", parsed.error);
  }
  const db = warehouseDb(c.env.WAREHOUSE);
  const existing = await listComputedTraits(db);
  if (!existing.some((t) => t.key === key) && existing.length >= MAX_COMPUTED_TRAITS) {
    throw new ApiError(
      409,
      "too_many_computed_traits",
      `there are ${existing.length} computed traits, the most this service evaluates per event; delete one first`,
    );
  }
  const { created, trait } = await putComputedTrait(db, key, parsed.data, Date.now());
  invalidateDefinitions();
  return c.json(computedTraitView(trait), created ? 201 : 200);
});

computedTraitRoutes.get("/v1/computed-traits", async (c) => {
  const traits = await listComputedTraits(warehouseDb(c.env.WAREHOUSE));
  return c.json({ items: traits.map(computedTraitView) });
});

computedTraitRoutes.get("/v1/computed-traits/:key", async (c) => {
  const key = traitKeyParam(c.req.param("key"));
  const trait = (await listComputedTraits(warehouseDb(c.env.WAREHOUSE))).find((t) => t.key === key);
  if (!trait) throw new ApiError(404, "computed_trait_not_found", `no computed trait "${key}"`);
  return c.json(computedTraitView(trait));
});

/** A trait an audience's rule reads cannot go: the audience would silently stop matching. */
computedTraitRoutes.delete("/v1/computed-traits/:key", async (c) => {
  const key = traitKeyParam(c.req.param("key"));
  const db = warehouseDb(c.env.WAREHOUSE);
  const users = (await listAudiences(db)).filter((a) => computedKeysOf(a.rule).includes(key)).map((a) => a.key);
  if (users.length > 0) {
    throw new ApiError(
      409,
      "computed_trait_in_use",
      `audiences ${users.map((u) => `"${u}"`).join(", ")} read computed trait "${key}"; change or delete them first`,
    );
  }
  if (!(await deleteComputedTrait(db, key))) {
    throw new ApiError(404, "computed_trait_not_found", `no computed trait "${key}"`);
  }
  invalidateDefinitions();
  return c.body(null, 204);
});
