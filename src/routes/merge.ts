/**
 * `GET /v1/merge/:id` — the ESP's connected-content call, made once per
 * recipient at send time (DESIGN §2.2). It answers something useful for
 * everyone: an unknown or unparseable id gets the trending block, because
 * ESPs render an error page as an empty string. Each recommended product
 * carries a sealed click URL and the block carries a sealed open pixel.
 *
 * Inside an experiment (`?experiment=`, or a `campaign` tied to one) the call
 * renders the person's variant, which their actor records on first exposure,
 * and seals the experiment and variant into every link (DESIGN §7).
 */
import { Hono } from "hono";
import { warehouseDb } from "../catalog/store";
import { experimentForMerge } from "../experiments/cache";
import type { StoredExperiment } from "../experiments/store";
import type { ExposureRequest } from "../model/experiment-attribution";
import { assignVariant, variantRecommendations } from "../model/experiments";
import { cleanJsonText } from "../model/html";
import { publicProfileId } from "../model/profile-id";
import { recommend } from "../model/ranking";
import { type BlockItem, openPixelTag, recommendationHeading, renderRecommendationBlock } from "../model/render";
import { base64UrlEncode, type LinkClaims, sealToken, signingSecrets } from "../model/signing";
import { countMetric } from "../observability/metrics-recorder";
import { type AppEnv, publicOrigin } from "./app-env";
import { requireMergeAccess } from "./auth";
import { ApiError } from "./errors";
import { catalogFor, limitParam, recommendationItem, resolveProfile } from "./profiles";

export const mergeRoutes = new Hono<AppEnv>();
mergeRoutes.use("/v1/merge/*", requireMergeAccess());

/** Sealed links stay valid this long: long enough for an email read months later. */
const LINK_TTL_SECONDS = 180 * 24 * 3600;

function shortParam(raw: string | undefined, name: string, max: number): string | null {
  if (raw === undefined || raw === "") return null;
  if (raw.length > max) throw new ApiError(400, `invalid_${name}`, `${name} must be at most ${max} characters`);
  return raw;
}

/** Each experiment's part of an exposure request, built once: the actor needs the variants' keys and weights only. */
const exposureParts = new WeakMap<StoredExperiment, Omit<ExposureRequest, "actorKey" | "recordUnknown">>();

function exposureOf(experiment: StoredExperiment, actorKey: string, recordUnknown: boolean): ExposureRequest {
  let parts = exposureParts.get(experiment);
  if (!parts) {
    parts = {
      experimentId: experiment.id,
      salt: experiment.salt,
      variants: experiment.variants.map((v) => ({ key: v.key, weight: v.weight })),
      conversionEvent: experiment.conversionEvent,
      windowMs: experiment.attributionWindowDays * 24 * 3600 * 1000,
    };
    exposureParts.set(experiment, parts);
  }
  return { ...parts, actorKey, recordUnknown };
}

/** Actor names a merge call can record an exposure on: a person or a visitor (not an unclaimed address). */
const RECORDABLE = /^(user|anon):/;

/**
 * Who a link's clicks and opens are recorded on: the person the actor says it
 * is (also when they were looked up by e-mail), else the id as resolved — a
 * directory name for an unknown address, so no address travels in a link.
 */
function claimProfile(raw: string, resolvedName: string | null, known: string | null): string {
  if (known) return known;
  if (!resolvedName) return raw.slice(0, 256);
  return resolvedName.startsWith("email:") ? resolvedName : publicProfileId(resolvedName);
}

mergeRoutes.get("/v1/merge/:id", async (c) => {
  const rawId = c.req.param("id");
  const limit = limitParam(c.req.query("limit"), 3, 12);
  const campaignParam = shortParam(c.req.query("campaign"), "campaign", 128);
  const variantParam = shortParam(c.req.query("variant"), "variant", 64);
  const experimentParam = shortParam(c.req.query("experiment"), "experiment", 64);
  const format = c.req.query("format") ?? "json";
  if (format !== "json" && format !== "html") {
    throw new ApiError(400, "invalid_format", `format must be json or html; got "${format.slice(0, 20)}"`);
  }

  const [resolved, joined] = await Promise.all([
    resolveProfile(c.env, rawId),
    experimentForMerge(warehouseDb(c.env.WAREHOUSE), { experiment: experimentParam, campaign: campaignParam }, (p) =>
      c.executionCtx.waitUntil(p),
    ),
  ]);
  if (joined === "unknown") {
    throw new ApiError(
      404,
      "unknown_experiment",
      `no experiment "${experimentParam}": create it with POST /v1/experiments, or leave experiment out of the merge URL`,
    );
  }
  const running = joined?.status === "running" ? joined : null;
  const name = resolved.ok ? resolved.profile.name : null;
  // A merge key in the URL (requireMergeAccess) records only people the service already holds.
  const byUrlKey = c.req.query("key") !== undefined && !c.req.header("authorization");
  const exposure = running && name && RECORDABLE.test(name) ? exposureOf(running, name, !byUrlKey) : undefined;
  const [input, index] = await Promise.all([
    resolved.ok ? resolved.profile.stub.personalization(undefined, exposure) : null,
    catalogFor(c),
  ]);
  const known = input?.known ?? false;
  const traits = known && input ? input.traits : {};
  const signals = input?.signals ?? null;
  // A stopped experiment sends everyone to the control; a person nobody can record is assigned by the hash alone.
  const variantKey = !joined
    ? null
    : !running
      ? joined.control
      : (input?.experiment?.variant ?? (await assignVariant(running, running.salt, name ?? rawId)));
  const variantShown = joined?.variants.find((v) => v.key === variantKey);
  const result = variantShown
    ? variantRecommendations(variantShown, index, signals, limit)
    : recommend(index, signals, limit);

  const base = publicOrigin(c.env, c.req.url);
  const [secret] = signingSecrets(c.env.LINK_SIGNING_SECRET);
  const claimBase = {
    profile: claimProfile(rawId, name, input?.profileId ?? null),
    campaign: campaignParam ?? (joined ? (joined.campaign ?? null) : null),
    variant: variantKey ?? variantParam,
    // Only a running experiment's links count: a stopped one's results are frozen.
    ...(running ? { experiment: running.id } : {}),
    // One id for every link of this e-mail, so a scanner following all of them at once is told from a reader.
    emailId: base64UrlEncode(crypto.getRandomValues(new Uint8Array(8))),
    exp: Math.floor(Date.now() / 1000) + LINK_TTL_SECONDS,
  };
  const link = async (claims: LinkClaims, path: string) =>
    secret ? `${base}${path}${await sealToken(claims, secret)}` : null;

  const items = await Promise.all(
    result.items.map(async (r) => ({
      ...recommendationItem(r),
      clickUrl:
        (await link({ ...claimBase, kind: "c", url: r.product.url, productId: r.product.id }, "/c/")) ?? r.product.url,
    })),
  );
  const openPixelUrl = await link({ ...claimBase, kind: "o" }, "/o/");

  const strategy = result.strategy;
  const blockItems: BlockItem[] = items.map((i) => ({
    title: i.title,
    clickUrl: i.clickUrl,
    imageUrl: i.imageUrl,
    price: i.price,
    currency: i.currency,
    reason: i.reason,
  }));
  // A holdout's e-mail has no block, only the open pixel: its opens count like every variant's.
  const block =
    strategy === "none"
      ? openPixelUrl
        ? openPixelTag(openPixelUrl)
        : ""
      : renderRecommendationBlock(blockItems, { heading: recommendationHeading(strategy, traits), openPixelUrl });

  c.header("cache-control", "private, no-store");
  countMetric("merge_calls_total", { strategy });
  if (format === "html") return c.html(block);
  return c.json({
    // An ESP's template prints these as they are: no invisible direction overrides or controls.
    profile: { id: claimBase.profile, known, traits: cleanJsonText(traits) },
    audiences: known && input ? input.audiences : [],
    computedTraits: known && input ? cleanJsonText(input.computedTraits) : {},
    recommendations: cleanJsonText(items),
    recommendation_block: block,
    open_pixel_url: openPixelUrl,
    strategy,
    ...(joined && variantKey ? { experiment: { id: joined.id, variant: variantKey, status: joined.status } } : {}),
    generatedAt: new Date().toISOString(),
  });
});
