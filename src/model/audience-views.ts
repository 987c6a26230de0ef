/**
 * What the audience and computed-trait routes answer (DESIGN §8), one zod
 * schema each: the routes' outputs are typed by them, /openapi.json is
 * generated from them, and the tests parse answers with them.
 */
import { z } from "zod";
import { AGGREGATIONS, scalar } from "./computed-traits";

const isoTime = z.string().describe("ISO 8601, UTC");

export const computedTraitResponse = z.object({
  key: z.string(),
  aggregation: z.enum(AGGREGATIONS),
  event: z.string(),
  property: z.string().optional(),
  where: z.record(z.string(), scalar).optional(),
  window: z.string().describe('"<n>h", "<n>d" or "lifetime"'),
  createdAt: isoTime,
  updatedAt: isoTime,
});
export type ComputedTraitResponse = z.infer<typeof computedTraitResponse>;

export const backfillView = z
  .object({
    status: z.enum(["running", "done"]),
    total: z.number().int().describe("profiles the warehouse listed when it began"),
    done: z.number().int(),
    startedAt: isoTime.nullable(),
    finishedAt: isoTime.nullable(),
  })
  .describe("the latest evaluation of every profile, started by a new or changed rule");

export const deliveryReport = z.object({
  delivered: z.number().int(),
  dead: z.number().int(),
  deadLetters: z
    .array(
      z.object({
        messageId: z.string(),
        destination: z.string(),
        profileId: z.string(),
        attempts: z.number().int(),
        lastError: z.string().nullable(),
        body: z.string().nullable().describe("the payload that was not delivered"),
        at: z.number().describe("epoch ms of the last attempt"),
      }),
    )
    .describe("the newest dead letters, newest first"),
});

export const audienceResponse = z.object({
  key: z.string(),
  name: z.string(),
  rule: z.unknown().describe("the rule tree as defined (docs/audiences.md)"),
  destinations: z.array(z.object({ type: z.literal("webhook"), url: z.string() })).describe("secrets are never shown"),
  size: z.number().int().describe("current members in the warehouse"),
  backfill: backfillView.nullable(),
  createdAt: isoTime,
  updatedAt: isoTime,
  deliveries: deliveryReport.optional().describe("on GET /v1/audiences/{key}: finished webhook deliveries"),
});
export type AudienceResponse = z.infer<typeof audienceResponse>;

export const audienceMembersResponse = z.object({
  items: z.array(z.object({ profileId: z.string(), enteredAt: isoTime })),
  next: z.string().nullable().describe("the cursor of the next page; null on the last"),
});

export const audienceHistoryResponse = z.object({
  key: z.string(),
  bucket: z.enum(["hour", "day"]).describe("the spacing of the size points, on UTC boundaries"),
  since: isoTime.describe("the first point"),
  until: isoTime.describe("the last point: now"),
  sizes: z
    .array(z.object({ at: isoTime, size: z.number().int() }))
    .describe("members at each hour or day boundary of the period, and now"),
  entered: z.number().int().describe("entries in the period"),
  exited: z.number().int().describe("exits in the period"),
  transitions: z
    .array(z.object({ profileId: z.string(), kind: z.enum(["entered", "exited"]), at: isoTime }))
    .describe("the period's newest entries and exits, newest first, at most `limit`"),
});
export type AudienceHistoryResponse = z.infer<typeof audienceHistoryResponse>;

export const audienceDeliveriesResponse = z.object({
  key: z.string(),
  delivered: z.number().int().describe("transitions a destination took"),
  dead: z.number().int().describe("transitions a destination never took, after the last retry"),
  byDestination: z
    .array(z.object({ destination: z.string(), dead: z.number().int(), lastDeadAt: isoTime }))
    .describe("dead letters per destination URL, most first, counted over the newest 10,000"),
  items: z.array(
    z.object({
      messageId: z.string(),
      destination: z.string().describe("the destination's URL"),
      profileId: z.string(),
      status: z.enum(["delivered", "dead"]),
      attempts: z.number().int(),
      lastError: z.string().nullable(),
      body: z.string().nullable().describe("the payload, kept for a dead letter"),
      at: isoTime.describe("the last attempt"),
    }),
  ),
  next: z.string().nullable().describe("the cursor of the next page; null on the last"),
});
export type AudienceDeliveriesResponse = z.infer<typeof audienceDeliveriesResponse>;
