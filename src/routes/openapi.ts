/**
 * `GET /openapi.json`: the OpenAPI 3.1 document, its request and message
 * schemas generated from the same zod definitions the routes validate with.
 */
import { z } from "zod";
import { product } from "../model/catalog";
import { experimentResultsResponse } from "../model/experiment-results";
import { experimentDefinition, experimentResponse } from "../model/experiments";
import { batchRequest, ingestResponse, segmentMessage } from "../model/messages";
import { regulationDetail, regulationList } from "../model/regulation-views";
import { regulationRequest } from "../model/regulations";
import {
  eventsResponse,
  mergeResponse,
  profileSearchResponse,
  profileView,
  recommendationsResponse,
} from "../model/views";
import { audiencePaths, audienceSchemas } from "./openapi-audiences";
import { qualityPaths, qualitySchemas, qualitySecuritySchemes } from "./openapi-quality";

const schema = (s: z.ZodType) => z.toJSONSchema(s, { io: "input", unrepresentable: "any", target: "draft-2020-12" });

const errorBody = {
  type: "object",
  properties: {
    error: {
      type: "object",
      properties: { code: { type: "string" }, message: { type: "string" }, details: {} },
      required: ["code", "message"],
    },
  },
};

const json = (ref: string) => ({
  content: { "application/json": { schema: { $ref: `#/components/schemas/${ref}` } } },
});
const errors = {
  "400": { description: "Invalid request", ...json("Error") },
  "401": { description: "Missing or invalid key", ...json("Error") },
};
const idParam = {
  name: "id",
  in: "path",
  required: true,
  schema: { type: "string" },
  description:
    "user_id:<id>, anonymous_id:<id>, email:<address>, email_sha256:<hex of the trimmed, lower-cased address> or a bare user id",
};
const limitParam = { name: "limit", in: "query", required: false, schema: { type: "integer", minimum: 1 } };

function ingestPath(summary: string, body: string) {
  return {
    post: {
      summary,
      security: [{ writeKey: [] }],
      requestBody: {
        content: { "application/json": { schema: { $ref: `#/components/schemas/${body}` } }, "text/plain": {} },
      },
      responses: {
        "200": { description: "Accepted and rejected messages", ...json("IngestResponse") },
        ...errors,
        "413": { description: "Body over 500 KB", ...json("Error") },
      },
    },
  };
}

const experimentIdParam = { name: "id", in: "path", required: true, schema: { type: "string" } };

function experimentPath(summary: string, response: string) {
  return {
    get: {
      summary,
      security: [{ apiKey: [] }],
      parameters: [experimentIdParam],
      responses: {
        "200": { description: "OK", ...json(response) },
        ...errors,
        "404": { description: "Unknown experiment", ...json("Error") },
      },
    },
  };
}

let cached: unknown = null;

export function openApiDocument(): unknown {
  if (cached) return cached;
  const operator = (summary: string) => ({
    get: { summary, security: [{ apiKey: [] }], responses: { "200": { description: "OK" }, ...errors } },
  });
  const read = (summary: string, response: string) => ({
    get: {
      summary,
      security: [{ apiKey: [] }],
      parameters: [idParam, limitParam],
      responses: {
        "200": { description: "OK", ...json(response) },
        ...errors,
        "404": { description: "Unknown profile", ...json("Error") },
      },
    },
  });
  cached = {
    openapi: "3.1.0",
    info: {
      title: "edge-profiles",
      version: "1.0.0",
      description: "Real-time customer profiles for email personalization.",
    },
    components: {
      securitySchemes: {
        writeKey: {
          type: "http",
          scheme: "basic",
          description: "Write key as user name, empty password (or writeKey in the body)",
        },
        apiKey: { type: "http", scheme: "bearer" },
        ...qualitySecuritySchemes(),
      },
      schemas: {
        Message: schema(segmentMessage),
        BatchRequest: schema(batchRequest),
        IngestResponse: schema(ingestResponse),
        Product: schema(product),
        Profile: schema(profileView),
        ProfileSearch: schema(profileSearchResponse),
        Events: schema(eventsResponse),
        Recommendations: schema(recommendationsResponse),
        Merge: schema(mergeResponse),
        ...audienceSchemas(),
        ...qualitySchemas(),
        Regulation: schema(regulationDetail),
        Regulations: schema(regulationList),
        ExperimentDefinition: schema(experimentDefinition),
        Experiment: schema(experimentResponse),
        ExperimentResults: schema(experimentResultsResponse),
        Error: errorBody,
      },
    },
    paths: {
      "/v1/track": ingestPath("Record an action (Segment track)", "Message"),
      "/v1/identify": ingestPath("Set traits (Segment identify)", "Message"),
      "/v1/page": ingestPath("Record a page view", "Message"),
      "/v1/screen": ingestPath("Record a screen view", "Message"),
      "/v1/group": ingestPath("Associate with a group", "Message"),
      "/v1/alias": ingestPath("Link a previous id", "Message"),
      "/v1/batch": ingestPath("Up to 2,500 messages in one request", "BatchRequest"),
      "/v1/import": ingestPath("Alias of /v1/batch", "BatchRequest"),
      // The paths analytics.js posts to: each type's initial, and `b` for a batch.
      "/v1/t": ingestPath("Alias of /v1/track (analytics.js)", "Message"),
      "/v1/i": ingestPath("Alias of /v1/identify (analytics.js)", "Message"),
      "/v1/p": ingestPath("Alias of /v1/page (analytics.js)", "Message"),
      "/v1/s": ingestPath("Alias of /v1/screen (analytics.js)", "Message"),
      "/v1/g": ingestPath("Alias of /v1/group (analytics.js)", "Message"),
      "/v1/a": ingestPath("Alias of /v1/alias (analytics.js)", "Message"),
      "/v1/b": ingestPath("Alias of /v1/batch (analytics.js)", "BatchRequest"),
      "/v1/pixel/{type}": {
        get: {
          summary: "Tracking pixel: base64(url) JSON message with writeKey in `data`",
          parameters: [
            { name: "type", in: "path", required: true, schema: { enum: ["track", "page", "identify"] } },
            { name: "data", in: "query", required: true, schema: { type: "string" } },
          ],
          responses: { "200": { description: "1×1 GIF, always", content: { "image/gif": {} } } },
        },
      },
      "/v1/profiles/{id}": {
        ...read("The profile document", "Profile"),
        delete: {
          summary: "Erase the person everywhere and suppress their future events (GDPR erasure)",
          security: [{ apiKey: [] }],
          parameters: [idParam],
          responses: { "200": { description: "Erased" }, ...errors },
        },
      },
      "/v1/profiles/{id}/events": read("Recent events, newest first", "Events"),
      "/v1/profiles": {
        get: {
          summary:
            "Find people: q read as a profile id (exact, from the actor) and as a case-sensitive prefix of a user id or e-mail (from the warehouse); nobody found is an empty list",
          security: [{ apiKey: [] }],
          parameters: [
            { name: "q", in: "query", required: true, schema: { type: "string", minLength: 1, maxLength: 256 } },
            {
              name: "match",
              in: "query",
              schema: { enum: ["any", "exact"], default: "any" },
              description: "exact: only the person q names, from their actor (no warehouse search)",
            },
            { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 100, default: 20 } },
          ],
          responses: {
            "200": { description: "Matches, the exact one first", ...json("ProfileSearch") },
            "400": { description: "Missing or too long q", ...json("Error") },
            "401": { description: "Missing or invalid API key", ...json("Error") },
          },
        },
      },
      "/v1/profiles/{id}/stream": {
        get: {
          summary:
            "A live view of the person: server-sent events from their actor, `profile` ({ profile, events }) now and after each change, `moved` or `erased` at the end; the stream closes after a few minutes (reconnect)",
          security: [{ apiKey: [] }],
          parameters: [idParam],
          responses: {
            "200": {
              description: "text/event-stream; each `data:` line is one JSON object",
              content: { "text/event-stream": { schema: { type: "string" } } },
            },
            "400": { description: "Invalid profile id", ...json("Error") },
            "401": { description: "Missing or invalid API key", ...json("Error") },
            "404": { description: "Never seen", ...json("Error") },
          },
        },
      },
      "/v1/profiles/{id}/recommendations": read("Ranked product recommendations", "Recommendations"),
      "/v1/merge/{id}": {
        get: {
          summary: "ESP connected content: profile, recommendations with sealed links, HTML block",
          security: [{ apiKey: [] }],
          parameters: [
            idParam,
            limitParam,
            { name: "format", in: "query", schema: { enum: ["json", "html"] } },
            { name: "campaign", in: "query", schema: { type: "string" } },
            { name: "variant", in: "query", schema: { type: "string" } },
            {
              name: "experiment",
              in: "query",
              schema: { type: "string" },
              description: "Join this experiment (a campaign tied to a running one joins it without this)",
            },
          ],
          responses: {
            "200": {
              description: "Merge data, or the HTML block alone with format=html",
              content: {
                "application/json": { schema: { $ref: "#/components/schemas/Merge" } },
                "text/html": { schema: { type: "string" } },
              },
            },
            ...errors,
            "404": { description: "Unknown experiment", ...json("Error") },
          },
        },
      },
      "/v1/experiments": {
        post: {
          summary: "Define and start an experiment: variants with weights and content strategies, a control",
          security: [{ apiKey: [] }],
          requestBody: {
            content: { "application/json": { schema: { $ref: "#/components/schemas/ExperimentDefinition" } } },
          },
          responses: {
            "201": { description: "Created, running", ...json("Experiment") },
            ...errors,
            "409": { description: "The id is taken, or a running experiment holds the campaign", ...json("Error") },
          },
        },
        get: {
          summary: "Every experiment, newest first",
          security: [{ apiKey: [] }],
          responses: {
            "200": {
              description: "OK",
              content: {
                "application/json": {
                  schema: {
                    type: "object",
                    properties: { items: { type: "array", items: { $ref: "#/components/schemas/Experiment" } } },
                  },
                },
              },
            },
            ...errors,
          },
        },
      },
      "/v1/experiments/{id}": experimentPath("One experiment", "Experiment"),
      "/v1/experiments/{id}/results": experimentPath(
        "Per-variant counts and rates, each variant against the control, sample-ratio check",
        "ExperimentResults",
      ),
      "/v1/experiments/{id}/start": {
        post: {
          summary: "Start: an experiment runs from its creation, so this confirms a running one",
          security: [{ apiKey: [] }],
          parameters: [experimentIdParam],
          responses: {
            "200": { description: "Running", ...json("Experiment") },
            ...errors,
            "404": { description: "Unknown experiment", ...json("Error") },
            "409": { description: "Stopped: its results are frozen; create a new experiment", ...json("Error") },
          },
        },
      },
      "/v1/experiments/{id}/stop": {
        post: {
          summary: "Stop: results frozen, every later merge call served the control",
          security: [{ apiKey: [] }],
          parameters: [experimentIdParam],
          responses: {
            "200": { description: "Stopped", ...json("Experiment") },
            ...errors,
            "404": { description: "Unknown experiment", ...json("Error") },
          },
        },
      },
      "/v1/catalog/products": {
        put: {
          summary: "Upsert up to 1,000 products",
          security: [{ apiKey: [] }],
          requestBody: {
            content: {
              "application/json": {
                schema: {
                  type: "object",
                  properties: { products: { type: "array", items: { $ref: "#/components/schemas/Product" } } },
                },
              },
            },
          },
          responses: { "200": { description: "Stored" }, ...errors },
        },
        get: {
          summary: "List products in id order, a page at a time; q searches them",
          security: [{ apiKey: [] }],
          parameters: [
            { ...limitParam, schema: { type: "integer", minimum: 1, maximum: 1000, default: 100 } },
            {
              name: "after",
              in: "query",
              schema: { type: "string" },
              description: "the `next` of the previous page: products with a greater id",
            },
            {
              name: "q",
              in: "query",
              schema: { type: "string", maxLength: 100 },
              description:
                "only products whose id, title, brand or a category contains this text (ASCII letters in either case)",
            },
          ],
          responses: {
            "200": {
              description: "A page of products",
              content: {
                "application/json": {
                  schema: {
                    type: "object",
                    properties: {
                      products: { type: "array", items: { $ref: "#/components/schemas/Product" } },
                      next: {
                        type: ["string", "null"],
                        description: "`after` for the next page; null on the last",
                      },
                    },
                    required: ["products", "next"],
                  },
                },
              },
            },
            ...errors,
          },
        },
      },
      "/v1/catalog/products/{id}": {
        get: {
          summary: "One product",
          security: [{ apiKey: [] }],
          responses: {
            "200": { description: "The product", ...json("Product") },
            ...errors,
            "404": { description: "Unknown product" },
          },
        },
        delete: {
          summary: "Remove a product",
          security: [{ apiKey: [] }],
          responses: { "200": { description: "Deleted" }, ...errors, "404": { description: "Unknown product" } },
        },
      },
      "/o/{token}": {
        get: {
          summary: "Email open pixel (sealed token); counts once per person and window",
          responses: { "200": { description: "GIF" }, "400": { description: "Invalid token" } },
        },
      },
      "/c/{token}": {
        get: {
          summary: "Email click redirect (sealed token); counts once per person and window",
          responses: {
            "302": { description: "Redirect to the sealed URL" },
            "400": { description: "Invalid, non-canonical or expired token; never redirects" },
          },
        },
      },
      "/v1/quarantine": operator(
        "Rejected messages, newest first, with counts by reason (reason, status, limit, before)",
      ),
      "/v1/quarantine/replay": {
        post: {
          summary: "Re-submit quarantined messages, as stored or corrected: { items: [{ id, payload? }] }",
          security: [{ apiKey: [] }],
          responses: { "200": { description: "Per-item outcome" }, ...errors },
        },
      },
      "/v1/regulations": {
        post: {
          summary: "Create a GDPR/CCPA regulation (Segment Public API shape); answers { data: { regulateId } }",
          security: [{ apiKey: [] }],
          requestBody: { content: { "application/json": { schema: schema(regulationRequest) } } },
          responses: { "200": { description: "Created" }, ...errors },
        },
        get: {
          summary: "The newest regulations first, each with its subjects counted by status",
          security: [{ apiKey: [] }],
          parameters: [
            { ...limitParam, schema: { type: "integer", minimum: 1, maximum: 100, default: 20 } },
            {
              name: "cursor",
              in: "query",
              schema: { type: "string" },
              description: "`data.pagination.next` of the previous page",
            },
          ],
          responses: { "200": { description: "OK", ...json("Regulations") }, ...errors },
        },
      },
      "/v1/regulations/{id}": {
        get: {
          summary: "A regulation's overall and per-subject status",
          security: [{ apiKey: [] }],
          parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
          responses: {
            "200": { description: "OK", ...json("Regulation") },
            ...errors,
            "404": { description: "Unknown regulation", ...json("Error") },
          },
        },
      },
      "/v1/identity/conflicts": operator(
        "Identity claims from browser keys that were not applied, newest first (kind, profile, limit, before)",
      ),
      "/v1/profiles/{id}/export": operator("Everything held about a person, as one JSON document"),
      "/t.js": {
        get: {
          summary: "The first-party browser tracker; no auth (a server write key in ?writeKey= is refused with 400)",
          responses: { "200": { description: "JavaScript" } },
        },
      },
      "/v1/projects/{writeKey}/settings": {
        get: {
          summary: "Settings for @segment/analytics-next pointed here with cdnURL",
          responses: {
            "200": { description: "Settings" },
            "404": { description: "Unknown write key", ...json("Error") },
          },
        },
      },
      "/v1/sink/status": operator("Rows per warehouse table, the consumer's last batch and lag, dead letters"),
      "/v1/sink/outbox/{id}": {
        get: {
          summary: "One person's outbox: records awaiting confirmation, and when the flush alarm is due",
          security: [{ apiKey: [] }],
          parameters: [idParam],
          responses: { "200": { description: "OK" }, ...errors },
        },
      },
      "/v1/sink/lake": operator(
        "Raw lake objects under a prefix (raw/events/…), with their line counts; paged by cursor",
      ),
      "/v1/sink/lake/object": operator("One raw lake object as NDJSON (?key=raw/events/…)"),
      "/v1/sink/dead-letters": operator("Queue messages that exhausted their retries, newest first"),
      ...audiencePaths(),
      ...qualityPaths(),
      "/healthz": { get: { summary: "Liveness; no auth, no actor call", responses: { "200": { description: "ok" } } } },
      "/openapi.json": {
        get: { summary: "This document (OpenAPI 3.1)", responses: { "200": { description: "The OpenAPI document" } } },
      },
    },
  };
  return cached;
}
