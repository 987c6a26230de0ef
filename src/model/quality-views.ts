/**
 * What the data-quality routes answer (DESIGN §9), one zod schema each: the
 * tracking plan and its violations, quality runs, duplicate people and an
 * operator's merge of two of them. /openapi.json is generated from them and
 * the tests parse answers with them. Every object is strict, so a field a
 * route adds without the contract saying so fails the parse.
 */
import { z } from "zod";
import type { EvidenceKind } from "./duplicates";
import type { CheckStatus } from "./quality-checks";
import { trackingPlanInput, VIOLATION_KINDS } from "./tracking-plan";

const isoTime = z.string().describe("ISO 8601, UTC");
const count = z.number().int().nonnegative();
/** JSON has no Infinity: an unbounded threshold (or a value no one could measure) travels as null. */
const bound = z.number().nullable().describe("null: unbounded (Infinity has no JSON form)");

// Enum-like objects typed from the pure model: a kind added there and not here fails to compile.
const CHECK_STATUS: { [K in CheckStatus]: K } = { pass: "pass", warn: "warn", fail: "fail" };
const EVIDENCE_KIND: { [K in EvidenceKind]: K } = {
  email: "email",
  email_local: "email_local",
  phone: "phone",
  name: "name",
  address: "address",
};

export const trackingPlanView = z
  .strictObject({
    version: z.number().int().positive().describe("each PUT saves a new version"),
    createdAt: isoTime,
    ...trackingPlanInput.shape,
  })
  .describe("the tracking plan in force, as it was saved");
export type TrackingPlanView = z.infer<typeof trackingPlanView>;

export const planViolation = z.strictObject({
  kind: z.enum(VIOLATION_KINDS),
  property: z.string().describe('dotted path (`price`, `products[].sku`); "" for the event itself'),
  message: z.string(),
});

export const violationsPage = z.strictObject({
  version: z
    .number()
    .int()
    .positive()
    .nullable()
    .describe("the plan version counted; null when no plan was ever saved"),
  counts: z
    .array(
      z.strictObject({
        event: z.string().describe('the event name, or "identify" for traits'),
        property: z.string(),
        kind: z.enum(VIOLATION_KINDS),
        count,
        lastAt: isoTime,
      }),
    )
    .describe("most frequent first"),
  items: z
    .array(
      z.strictObject({
        id: z.number().int().positive(),
        receivedAt: isoTime,
        planVersion: z.number().int().positive(),
        messageId: z.string(),
        type: z.string().describe("the Segment message type"),
        event: z.string(),
        action: z.enum(["flag", "block"]).describe("flag: stored and marked; block: quarantined"),
        violations: z.array(planViolation),
        userId: z.string().nullable(),
        anonymousId: z.string().nullable(),
      }),
    )
    .describe("the newest offending messages, newest first"),
  next: z.number().int().positive().nullable().describe("`before` for the next page; null on the last"),
});
export type ViolationsPage = z.infer<typeof violationsPage>;

export const qualityCheck = z.strictObject({
  check: z.string().describe("e.g. completeness.identify_email, freshness.sink_lag, duplicates.people"),
  status: z.enum(CHECK_STATUS),
  observed: z.number().nullable().describe("in `unit`; null when there was nothing to measure"),
  threshold: z.strictObject({
    warn: bound,
    fail: bound,
    direction: z.enum(["above", "below"]).describe("above: bad when over the bounds; below: when under them"),
  }),
  unit: z.string(),
  detail: z.string().describe("one sentence an operator reads first"),
  sample: z.array(z.unknown()).describe("a few offending rows, to start looking from"),
});
export type QualityCheck = z.infer<typeof qualityCheck>;

export const qualityRunView = z.strictObject({
  id: z.string(),
  trigger: z.enum(["api", "cron"]),
  startedAt: isoTime,
  finishedAt: isoTime.nullable().describe("null while the run is under way"),
  status: z.enum(["running", "pass", "warn", "fail", "error"]).describe("the worst check's status once finished"),
  checks: z.array(qualityCheck),
  error: z.string().optional().describe("why the run itself broke (status error)"),
});
export type QualityRunView = z.infer<typeof qualityRunView>;

export const qualityRunList = z.strictObject({ items: z.array(qualityRunView).describe("newest first") });

export const qualityRunStarted = z
  .strictObject({ id: z.string(), status: z.literal("running") })
  .describe("the run is queued; GET /v1/quality/runs/{id} (also the Location header) follows it");
export type QualityRunStarted = z.infer<typeof qualityRunStarted>;

export const duplicatesView = z.strictObject({
  compared: count.describe("profiles compared (those with traits, most recently updated first)"),
  items: z
    .array(
      z.strictObject({
        a: z.string().describe("profile id"),
        b: z.string().describe("profile id"),
        score: z.number(),
        evidence: z.array(
          z.strictObject({
            kind: z.enum(EVIDENCE_KIND),
            a: z.string(),
            b: z.string(),
            similarity: z.number().min(0).max(1),
            detail: z.string(),
          }),
        ),
      }),
    )
    .describe("pairs that look like one person, strongest first"),
});
export type DuplicatesView = z.infer<typeof duplicatesView>;

export const profileMergeRequest = z.strictObject({
  from: z.string().min(1).max(400).describe("the known user merged away, e.g. user_id:42"),
  into: z.string().min(1).max(400).describe("the known user that remains"),
  reason: z.string().max(500).optional().describe("kept in the merge audit"),
});
export type ProfileMergeRequest = z.infer<typeof profileMergeRequest>;

export const profileMergeView = z.strictObject({
  id: z.number().int().positive().describe("the merge audit's id"),
  from: z.string().describe("public profile id, as resolved"),
  into: z.string().describe("public profile id, as resolved"),
  status: z.literal("merged"),
  reason: z.string().nullable(),
  requestedAt: isoTime,
  finishedAt: isoTime,
});
export type ProfileMergeView = z.infer<typeof profileMergeView>;
