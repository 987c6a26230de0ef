/**
 * The data-quality and observability routes of /openapi.json (DESIGN §9):
 * the tracking plan, quality runs, duplicate people, operator merges and
 * `GET /metrics` with its per-minute history, from the zod schemas the routes answer with
 * (model/quality-views.ts).
 */
import { z } from "zod";
import { METRIC_MINUTES_KEPT, metricSeriesResponse } from "../model/metric-series";
import {
  duplicatesView,
  profileMergeRequest,
  profileMergeView,
  qualityRunList,
  qualityRunStarted,
  qualityRunView,
  trackingPlanView,
  violationsPage,
} from "../model/quality-views";
import { trackingPlanInput } from "../model/tracking-plan";

const schema = (s: z.ZodType) => z.toJSONSchema(s, { io: "input", unrepresentable: "any", target: "draft-2020-12" });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (name: string) => ({ content: { "application/json": { schema: ref(name) } } });
const errors = {
  "400": { description: "Invalid request", ...json("Error") },
  "401": { description: "Missing or invalid key", ...json("Error") },
};
const unauthorized = { "401": errors["401"] };
const security = [{ apiKey: [] }];
const limit = (max: number, fallback: number) => ({
  name: "limit",
  in: "query",
  required: false,
  schema: { type: "integer", minimum: 1, maximum: max, default: fallback },
});
const noPlan = { "404": { description: "No tracking plan is in force", ...json("Error") } };
const unknownRun = { "404": { description: "Unknown run, or no run yet", ...json("Error") } };

export function qualitySecuritySchemes() {
  return {
    metricsKey: {
      type: "http",
      scheme: "bearer",
      description: "One of METRICS_KEYS: reads pipeline health for a scraper, nothing about people",
    },
  };
}

export function qualitySchemas() {
  return {
    TrackingPlanInput: {
      ...schema(trackingPlanInput),
      description:
        "events: a JSON Schema of each planned track event's properties; traits: one for identify traits; unplanned governs what the plan does not name, violations what contradicts it",
    },
    TrackingPlan: schema(trackingPlanView),
    TrackingPlanViolations: schema(violationsPage),
    QualityRun: schema(qualityRunView),
    QualityRunStarted: schema(qualityRunStarted),
    QualityRuns: schema(qualityRunList),
    Duplicates: schema(duplicatesView),
    ProfileMergeRequest: schema(profileMergeRequest),
    ProfileMerge: schema(profileMergeView),
    MetricSeries: schema(metricSeriesResponse),
  };
}

export function qualityPaths() {
  return {
    "/v1/tracking-plan": {
      put: {
        summary:
          "Save a new version of the tracking plan; it applies to messages from then on (every isolate within 10 s)",
        security,
        requestBody: json("TrackingPlanInput"),
        responses: {
          "200": { description: "Saved", ...json("TrackingPlan") },
          ...errors,
          "413": { description: "Plan over 512 KB", ...json("Error") },
        },
      },
      get: {
        summary: "The tracking plan in force",
        security,
        responses: { "200": { description: "OK", ...json("TrackingPlan") }, ...unauthorized, ...noPlan },
      },
      delete: {
        summary: "Remove the tracking plan: every message is allowed again",
        security,
        responses: { "204": { description: "Removed" }, ...unauthorized, ...noPlan },
      },
    },
    "/v1/tracking-plan/violations": {
      get: {
        summary: "Violations of a plan version counted by event, property and kind, with the newest offending messages",
        security,
        parameters: [
          { name: "event", in: "query", required: false, schema: { type: "string" }, description: "one event only" },
          limit(500, 50),
          {
            name: "before",
            in: "query",
            required: false,
            schema: { type: "integer", minimum: 1 },
            description: "next of the previous page",
          },
          {
            name: "version",
            in: "query",
            required: false,
            schema: { type: "integer", minimum: 1 },
            description: "a plan version; the newest by default",
          },
        ],
        responses: { "200": { description: "OK", ...json("TrackingPlanViolations") }, ...errors },
      },
    },
    "/v1/quality/runs": {
      get: {
        summary: "The newest quality runs, newest first (empty before the first)",
        security,
        parameters: [
          { name: "limit", in: "query", required: false, schema: { type: "integer", minimum: 1, maximum: 100 } },
        ],
        responses: { "200": { description: "OK", ...json("QualityRuns") }, ...unauthorized },
      },
      post: {
        summary: "Start a run of every quality check; the quality Queue carries it out",
        security,
        responses: {
          "202": {
            description: "Started",
            headers: { Location: { schema: { type: "string" }, description: "/v1/quality/runs/{id}" } },
            ...json("QualityRunStarted"),
          },
          ...unauthorized,
        },
      },
    },
    "/v1/quality/runs/{id}": {
      get: {
        summary: "One quality run: status and each check's observed value, thresholds and sample",
        security,
        parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
        responses: { "200": { description: "OK", ...json("QualityRun") }, ...unauthorized, ...unknownRun },
      },
    },
    "/v1/quality": {
      get: {
        summary: "The latest quality run that finished (or was lost), else the newest",
        security,
        responses: { "200": { description: "OK", ...json("QualityRun") }, ...unauthorized, ...unknownRun },
      },
    },
    "/v1/quality/duplicates": {
      get: {
        summary: "Pairs of profiles that look like one person, strongest first, with the evidence",
        security,
        parameters: [limit(1000, 50)],
        responses: { "200": { description: "OK", ...json("Duplicates") }, ...errors },
      },
    },
    "/v1/profiles/merge": {
      post: {
        summary: "Join two known users on purpose: `from` is merged into `into`, and the merge audited",
        security,
        requestBody: json("ProfileMergeRequest"),
        responses: {
          "200": { description: "Merged", ...json("ProfileMerge") },
          ...errors,
          "413": { description: "Body over 4 KB", ...json("Error") },
          "404": { description: "Unknown profile", ...json("Error") },
          "409": {
            description: "Refused: from and into are one person, or from was already merged elsewhere",
            ...json("Error"),
          },
        },
      },
    },
    "/metrics": {
      get: {
        summary: "Prometheus text exposition of pipeline health",
        security: [{ metricsKey: [] }],
        responses: {
          "200": {
            description: "Counters and gauges (text format 0.0.4)",
            content: { "text/plain": { schema: { type: "string" } } },
          },
          ...unauthorized,
        },
      },
    },
    "/v1/metrics/series": {
      get: {
        summary:
          "The metrics minute by minute: events accepted, rejected, suppressed, merge calls, sink lag, dead letters, quarantine",
        security,
        parameters: [
          {
            name: "minutes",
            in: "query",
            required: false,
            schema: { type: "integer", minimum: 1, maximum: METRIC_MINUTES_KEPT, default: 60 },
          },
        ],
        responses: { "200": { description: "Aligned series", ...json("MetricSeries") }, ...errors },
      },
    },
  };
}
