/**
 * Response shapes of the read API (DESIGN §2.2), defined once: the actor's
 * RPC return types are inferred from them and `/openapi.json` is generated
 * from them.
 */
import { z } from "zod";

const isoTime = z.string().describe("ISO-8601 UTC time");
const jsonObject = z.record(z.string(), z.unknown());

export const sessionView = z.object({
  number: z.number().int(),
  startedAt: isoTime,
  endedAt: isoTime,
  durationSeconds: z.number().int(),
  events: z.number().int(),
  pages: z.number().int(),
  revenue: z.number(),
  landingPage: z.string().nullable(),
});
export type SessionView = z.infer<typeof sessionView>;

export const affinityView = z.object({ dimension: z.string(), score: z.number() });

/** Each computed trait's value now, by key (DESIGN §8); null where the trait has seen nothing yet. */
export const computedTraitValues = z
  .record(z.string(), z.union([z.string(), z.number(), z.boolean()]).nullable())
  .describe("each computed trait's value now, by key; null where it has seen nothing yet");

export const profileView = z.object({
  id: z.string().describe("user_id:<id> or anonymous_id:<id>"),
  userId: z.string().nullable(),
  anonymousIds: z.array(z.string()),
  traits: jsonObject,
  firstSeen: isoTime,
  lastSeen: isoTime,
  counts: z.object({ events: z.number().int(), sessions: z.number().int() }),
  affinities: z.array(affinityView).describe("strongest first, decayed to now"),
  session: z.object({ current: sessionView.nullable(), recent: z.array(sessionView) }),
  consent: z
    .object({ personalization: z.boolean().nullable() })
    .describe("the newest consent to personalization given or refused; null when never said"),
  affinityHalfLifeDays: z
    .number()
    .describe("every affinity halves over this many days without a new signal: score × 2^(−days/half-life)"),
  version: z.number().int(),
  audiences: z.array(z.string()).describe("keys of the audiences the person is in now"),
  computedTraits: computedTraitValues,
  experiments: z
    .array(
      z.object({
        id: z.string(),
        variant: z.string(),
        exposedAt: isoTime.describe("the first merge call that rendered the experiment for the person"),
        openedAt: isoTime.nullable(),
        clickedAt: isoTime.nullable(),
        convertedAt: isoTime.nullable(),
      }),
    )
    .describe("the experiments the person was assigned to, and what they did after"),
});
export type ProfileView = z.infer<typeof profileView>;

export const eventView = z.object({
  messageId: z.string(),
  type: z.string(),
  name: z.string().nullable(),
  timestamp: isoTime,
  receivedAt: isoTime,
  properties: jsonObject,
  traits: jsonObject,
  context: jsonObject,
});
export type EventView = z.infer<typeof eventView>;
export const eventsResponse = z.object({ events: z.array(eventView).describe("newest first") });

export const recommendationView = z.object({
  productId: z.string(),
  title: z.string(),
  url: z.string(),
  imageUrl: z.string().nullable(),
  price: z.number().nullable(),
  currency: z.string(),
  categories: z.array(z.string()),
  brand: z.string().nullable(),
  score: z.number(),
  reason: z.string().describe("why this product, in words a reader understands"),
});

export const recommendationsResponse = z.object({
  items: z.array(recommendationView),
  strategy: z.enum(["personalized", "trending"]),
  generatedAt: isoTime,
});

export const mergeResponse = z.object({
  profile: z.object({ id: z.string(), known: z.boolean(), traits: jsonObject }),
  audiences: z.array(z.string()).describe("keys of the audiences the person is in now (empty for someone unknown)"),
  computedTraits: computedTraitValues,
  recommendations: z.array(
    recommendationView.extend({
      clickUrl: z.string().describe("sealed click-tracking URL: opaque, one event per person and window"),
    }),
  ),
  recommendation_block: z.string().describe("email-safe HTML"),
  open_pixel_url: z.string().nullable(),
  strategy: z
    .enum(["personalized", "trending", "static", "none"])
    .describe("static: an experiment variant's fixed products; none: a holdout, whose block is only the open pixel"),
  experiment: z
    .object({ id: z.string(), variant: z.string(), status: z.enum(["running", "stopped"]) })
    .optional()
    .describe("present inside an experiment: the variant rendered (a stopped experiment's control)"),
  generatedAt: isoTime,
});

/** `GET /v1/profiles?q=`: people found by id, user id prefix or e-mail prefix. */
export const profileSearchResponse = z.object({
  items: z.array(
    z.object({
      id: z.string().describe("the profile id to read: user_id:<id> or anonymous_id:<id>"),
      userId: z.string().nullable(),
      email: z.string().nullable(),
      name: z.string().nullable(),
      lastSeen: z.string().describe("ISO 8601"),
      match: z.enum(["exact", "prefix"]).describe("exact: the id itself, from the actor; prefix: from the warehouse"),
    }),
  ),
});
export type ProfileSearchResponse = z.infer<typeof profileSearchResponse>;
