/**
 * The audience and computed-trait routes of /openapi.json (DESIGN §8), from
 * the zod schemas the routes answer with (model/audience-views.ts).
 */
import { z } from "zod";
import { MAX_HISTORY_DAYS, MAX_HOURLY_DAYS } from "../model/audience-history";
import {
  audienceDeliveriesResponse,
  audienceHistoryResponse,
  audienceMembersResponse,
  audienceResponse,
  computedTraitResponse,
} from "../model/audience-views";
import { audienceDefinition } from "../model/audiences";
import { computedTraitDefinition } from "../model/computed-traits";

const schema = (s: z.ZodType) => z.toJSONSchema(s, { io: "input", unrepresentable: "any", target: "draft-2020-12" });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (name: string) => ({ content: { "application/json": { schema: ref(name) } } });
const list = (name: string) => ({
  content: {
    "application/json": { schema: { type: "object", properties: { items: { type: "array", items: ref(name) } } } },
  },
});
const errors = {
  "400": { description: "Invalid request", ...json("Error") },
  "401": { description: "Missing or invalid key", ...json("Error") },
};
const keyParam = { name: "key", in: "path", required: true, schema: { type: "string" } };
const security = [{ apiKey: [] }];

export function audienceSchemas() {
  return {
    ComputedTraitDefinition: schema(computedTraitDefinition),
    ComputedTrait: schema(computedTraitResponse),
    AudienceDefinition: {
      ...schema(audienceDefinition),
      description:
        'rule: a tree of { all: [rule…] }, { any: [rule…] }, { not: rule } and conditions { event, within, atLeast?, where? }, { trait, op, value? }, { computed, op, value? }, { affinity, op, value? }, { consent: "personalization" }; op is eq, neq, gt, gte, lt, lte, exists or contains',
    },
    Audience: schema(audienceResponse),
    AudienceMembers: schema(audienceMembersResponse),
    AudienceHistory: schema(audienceHistoryResponse),
    AudienceDeliveries: schema(audienceDeliveriesResponse),
  };
}

export function audiencePaths() {
  return {
    "/v1/computed-traits": {
      get: {
        summary: "Every computed trait",
        security,
        responses: { "200": { description: "OK", ...list("ComputedTrait") }, ...errors },
      },
    },
    "/v1/computed-traits/{key}": {
      put: {
        summary: "Define or replace a computed trait: an aggregation over one event in a window or lifetime",
        security,
        parameters: [keyParam],
        requestBody: json("ComputedTraitDefinition"),
        responses: {
          "200": { description: "Replaced", ...json("ComputedTrait") },
          "201": { description: "Created", ...json("ComputedTrait") },
          ...errors,
          "409": { description: "Too many computed traits", ...json("Error") },
        },
      },
      get: {
        summary: "One computed trait",
        security,
        parameters: [keyParam],
        responses: {
          "200": { description: "OK", ...json("ComputedTrait") },
          ...errors,
          "404": { description: "Unknown", ...json("Error") },
        },
      },
      delete: {
        summary: "Delete a computed trait no audience reads",
        security,
        parameters: [keyParam],
        responses: {
          "204": { description: "Deleted" },
          ...errors,
          "404": { description: "Unknown", ...json("Error") },
          "409": { description: "An audience's rule reads it", ...json("Error") },
        },
      },
    },
    "/v1/audiences": {
      get: {
        summary: "Every audience with its size",
        security,
        responses: { "200": { description: "OK", ...list("Audience") }, ...errors },
      },
    },
    "/v1/audiences/{key}": {
      put: {
        summary: "Define or replace an audience; a new or changed rule starts a backfill over every profile",
        security,
        parameters: [keyParam],
        requestBody: json("AudienceDefinition"),
        responses: {
          "200": { description: "Replaced", ...json("Audience") },
          "201": { description: "Created", ...json("Audience") },
          ...errors,
          "409": { description: "Too many audiences", ...json("Error") },
        },
      },
      get: {
        summary: "One audience: size, backfill progress, webhook deliveries and dead letters",
        security,
        parameters: [keyParam],
        responses: {
          "200": { description: "OK", ...json("Audience") },
          ...errors,
          "404": { description: "Unknown", ...json("Error") },
        },
      },
      delete: {
        summary: "Delete an audience; its open stints end now",
        security,
        parameters: [keyParam],
        responses: {
          "204": { description: "Deleted" },
          ...errors,
          "404": { description: "Unknown", ...json("Error") },
        },
      },
    },
    "/v1/audiences/{key}/members": {
      get: {
        summary: "Current members in order of entry, a page at a time",
        security,
        parameters: [
          keyParam,
          { name: "limit", in: "query", required: false, schema: { type: "integer", minimum: 1, maximum: 1000 } },
          {
            name: "cursor",
            in: "query",
            required: false,
            schema: { type: "string" },
            description: "next of the previous page",
          },
        ],
        responses: {
          "200": { description: "OK", ...json("AudienceMembers") },
          ...errors,
          "404": { description: "Unknown", ...json("Error") },
        },
      },
    },
    "/v1/audiences/{key}/history": {
      get: {
        summary: "Size over time (per UTC hour or day) and the newest entries and exits of the period",
        security,
        parameters: [
          keyParam,
          {
            name: "days",
            in: "query",
            required: false,
            schema: { type: "integer", minimum: 1, maximum: MAX_HISTORY_DAYS },
            description: `the period, ending now: 30 by default, at most ${MAX_HOURLY_DAYS} with bucket=hour (1 by default)`,
          },
          {
            name: "bucket",
            in: "query",
            required: false,
            schema: { type: "string", enum: ["hour", "day"] },
            description: "the spacing of the size points; day by default",
          },
          {
            name: "limit",
            in: "query",
            required: false,
            schema: { type: "integer", minimum: 1, maximum: 500 },
            description: "transitions at most; 50 by default",
          },
        ],
        responses: {
          "200": { description: "OK", ...json("AudienceHistory") },
          ...errors,
          "404": { description: "Unknown", ...json("Error") },
        },
      },
    },
    "/v1/audiences/{key}/deliveries": {
      get: {
        summary: "Finished webhook deliveries, newest first, with dead letters per destination",
        security,
        parameters: [
          keyParam,
          {
            name: "status",
            in: "query",
            required: false,
            schema: { type: "string", enum: ["dead", "delivered"] },
            description: "which deliveries to list; dead by default",
          },
          { name: "limit", in: "query", required: false, schema: { type: "integer", minimum: 1, maximum: 100 } },
          {
            name: "cursor",
            in: "query",
            required: false,
            schema: { type: "string" },
            description: "next of the previous page",
          },
        ],
        responses: {
          "200": { description: "OK", ...json("AudienceDeliveries") },
          ...errors,
          "404": { description: "Unknown", ...json("Error") },
        },
      },
    },
  };
}
