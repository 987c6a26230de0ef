/**
 * Profile reads for the customer's own systems (DESIGN §2.2), secret API key
 * required: the profile document, its event timeline and recommendations.
 * Each read is one RPC to the person's actor; ranking runs here, in the
 * Worker, against the isolate's catalog copy.
 */

import type { Context } from "hono";
import { Hono } from "hono";
import { emailDirectory, type ProfileActorApi, profileActor } from "../actors/client";
import { catalogIndex } from "../catalog/cache";
import { warehouseDb } from "../catalog/store";
import type { Env } from "../env";
import { actorNameOf, directoryNameOf, parseProfileId } from "../model/profile-id";
import { type CatalogIndex, type Recommendation, recommend } from "../model/ranking";
import { settingsOf } from "../model/settings";
import type { AppEnv } from "./app-env";
import { requireApiKey } from "./auth";
import { ApiError } from "./errors";

export const profileRoutes = new Hono<AppEnv>();
profileRoutes.use("/v1/profiles/*", requireApiKey());

/** What the read routes ask of a person's actor. */
export type ProfileReader = Pick<
  ProfileActorApi,
  "readProfile" | "readEvents" | "personalization" | "outboxStatus" | "watch"
>;

export interface ResolvedProfile {
  /** The person's actor, or for an address nobody claimed, its directory entry (`email:<sha256>`). */
  name: string;
  stub: ProfileReader;
}

/** An e-mail address nobody has claimed: reads answer as for someone never seen, without an actor. */
const nobody: ProfileReader = {
  readProfile: async () => null,
  readEvents: async () => null,
  personalization: async () => ({
    known: false,
    profileId: null,
    traits: {},
    signals: null,
    audiences: [],
    computedTraits: {},
  }),
  outboxStatus: async () => ({ pending: 0, oldestAt: null, unconfirmed: 0, alarmAt: null }),
  watch: async () => null,
};

/**
 * Maps a `<id_type>:<value>` profile id to its actor, or explains why it
 * cannot. An `email:` or `email_sha256:` id is looked up in the e-mail
 * directory first: one extra actor hop.
 */
export async function resolveProfile(
  env: Env,
  rawId: string,
): Promise<{ ok: true; profile: ResolvedProfile } | { ok: false; reason: string }> {
  const parsed = parseProfileId(rawId);
  if (!parsed.ok) return parsed;
  const direct = actorNameOf(parsed.ref);
  if (direct) return { ok: true, profile: { name: direct, stub: profileActor(env, direct) } };
  const entry = (await directoryNameOf(parsed.ref)) ?? "";
  const target = await emailDirectory(env, entry).lookup(entry);
  return {
    ok: true,
    profile: target ? { name: target, stub: profileActor(env, target) } : { name: entry, stub: nobody },
  };
}

async function profileOr400(c: Context<AppEnv>): Promise<ResolvedProfile> {
  const resolved = await resolveProfile(c.env, c.req.param("id") ?? "");
  if (!resolved.ok) throw new ApiError(400, "invalid_profile_id", resolved.reason);
  return resolved.profile;
}

/** Parses `?before=`, a page cursor (a row id from an earlier page's `next`); null when absent. */
export function beforeParam(raw: string | undefined): number | null {
  if (raw === undefined) return null;
  const before = Number(raw);
  if (!Number.isInteger(before) || before < 1) {
    throw new ApiError(400, "invalid_cursor", "before must be the `next` value of a previous page");
  }
  return before;
}

/** Parses `?limit=`, answering 400 with the allowed range when it is out of it. */
export function limitParam(raw: string | undefined, fallback: number, max: number): number {
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new ApiError(
      400,
      "invalid_limit",
      `limit must be a whole number from 1 to ${max}; got "${raw.slice(0, 40)}"`,
    );
  }
  return n;
}

function notFound(id: string): never {
  throw new ApiError(404, "profile_not_found", `no profile ${id}; it has sent no events yet`);
}

export function catalogFor(c: Context<AppEnv>): Promise<CatalogIndex> {
  return catalogIndex(warehouseDb(c.env.WAREHOUSE), settingsOf(c.env).catalogRefreshMs, (p) =>
    c.executionCtx.waitUntil(p),
  );
}

export function recommendationItem(r: Recommendation) {
  return {
    productId: r.product.id,
    title: r.product.title,
    url: r.product.url,
    imageUrl: r.product.imageUrl ?? null,
    price: r.product.price ?? null,
    currency: r.product.currency,
    categories: r.product.categories,
    brand: r.product.brand ?? null,
    score: r.score,
    reason: r.reason,
  };
}

profileRoutes.get("/v1/profiles/:id", async (c) => {
  const profile = await (await profileOr400(c)).stub.readProfile();
  return profile ? c.json(profile) : notFound(c.req.param("id"));
});

/**
 * Live views open through this isolate. Each keeps its person's actor in
 * memory while it lasts (a few minutes), so a key holder opening views on
 * thousands of people is refused here before the machine runs out of room.
 */
let liveViews = 0;
const MAX_LIVE_VIEWS = 100;

/**
 * A live view of the person as server-sent events (`text/event-stream`),
 * from their actor: `profile` with `{ profile, events }` now and after each
 * change, `moved` when they were merged into someone else, `erased` when a
 * regulation erased them. The stream ends after a few minutes; reconnect.
 * Read it with `fetch` and the Authorization header (EventSource cannot send
 * one, and an API key never goes in a URL).
 */
profileRoutes.get("/v1/profiles/:id/stream", async (c) => {
  if (liveViews >= MAX_LIVE_VIEWS) {
    throw new ApiError(
      503,
      "too_many_live_views",
      `${MAX_LIVE_VIEWS} live views are open here already; close one or try again shortly`,
      undefined,
      { "retry-after": "10" },
    );
  }
  liveViews += 1;
  let stream: ReadableStream<Uint8Array> | null = null;
  try {
    stream = await (await profileOr400(c)).stub.watch();
  } finally {
    if (!stream) liveViews -= 1;
  }
  if (!stream) return notFound(c.req.param("id"));
  // Counted until it ends, however it ends: the viewer left, the actor closed it, or the person went.
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  c.executionCtx.waitUntil(
    stream
      .pipeTo(writable)
      .catch(() => {})
      .finally(() => {
        liveViews -= 1;
      }),
  );
  return new Response(readable, {
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
    },
  });
});

profileRoutes.get("/v1/profiles/:id/events", async (c) => {
  const limit = limitParam(c.req.query("limit"), 50, 200);
  const events = await (await profileOr400(c)).stub.readEvents(limit);
  return events ? c.json({ events }) : notFound(c.req.param("id"));
});

profileRoutes.get("/v1/profiles/:id/recommendations", async (c) => {
  const limit = limitParam(c.req.query("limit"), 6, 24);
  const [input, index] = await Promise.all([(await profileOr400(c)).stub.personalization(), catalogFor(c)]);
  const result = recommend(index, input.signals, limit);
  return c.json({
    items: result.items.map(recommendationItem),
    strategy: result.strategy,
    generatedAt: new Date().toISOString(),
  });
});
