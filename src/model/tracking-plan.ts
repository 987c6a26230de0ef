/**
 * The tracking plan (DESIGN §9; Segment Protocols and RudderStack tracking
 * plans are the models): a JSON Schema for the `properties` of each planned
 * `track` event and one for `identify` traits, and what to do with a message
 * that breaks it — `allow` (stored as sent), `flag` (stored, its violations
 * written on the event under `context.trackingPlan` and counted) or `block`
 * (quarantined with code `tracking_plan_violation`, replayable once the plan
 * or the message is fixed).
 *
 * Two policies, as the plan names them: `unplanned` governs what the plan does
 * not name (an unplanned event, a property its schema does not list),
 * `violations` what contradicts it (a required property missing, a wrong
 * type, a value out of its format, pattern, enum or range).
 *
 * Schemas are interpreted by @cfworker/json-schema: Workers forbid code
 * generation at run time, so validators that compile schemas to functions
 * (Ajv) cannot run here. Each schema is compiled once per plan; checking an
 * event is a walk of its properties.
 */
import { type OutputUnit, type Schema, Validator } from "@cfworker/json-schema";
import { z } from "zod";
import type { ProfileEvent } from "./messages";

export const PLAN_POLICIES = ["allow", "flag", "block"] as const;
export type PlanPolicy = (typeof PLAN_POLICIES)[number];

export const VIOLATION_KINDS = [
  "missing_required",
  "wrong_type",
  "unplanned_event",
  "unplanned_property",
  "format",
] as const;
export type ViolationKind = (typeof VIOLATION_KINDS)[number];

/** Kinds the `unplanned` policy governs; the rest are the `violations` policy's. */
const UNPLANNED_KINDS: ReadonlySet<ViolationKind> = new Set(["unplanned_event", "unplanned_property"]);

/** Events a plan may name: enough for any real plan, bounded so a plan compiles in milliseconds. */
export const MAX_PLANNED_EVENTS = 1000;
/** Violations kept per message: a payload with a thousand stray keys is one message, not a thousand rows. */
export const MAX_VIOLATIONS_PER_MESSAGE = 20;

const jsonSchema = z.union([z.boolean(), z.record(z.string(), z.unknown())], {
  error: "must be a JSON Schema (an object, or true/false)",
});

export const trackingPlanInput = z.strictObject({
  events: z
    .record(z.string().min(1).max(200), jsonSchema)
    .refine((e) => Object.keys(e).length <= MAX_PLANNED_EVENTS, `at most ${MAX_PLANNED_EVENTS} events`),
  traits: jsonSchema.optional(),
  unplanned: z.enum(PLAN_POLICIES),
  violations: z.enum(PLAN_POLICIES),
});
export type TrackingPlanInput = z.infer<typeof trackingPlanInput>;

export interface Violation {
  kind: ViolationKind;
  /** Dotted path of the property (`price`, `products[].sku`); empty for the event itself. */
  property: string;
  message: string;
}

export interface PlanVerdict {
  action: PlanPolicy;
  violations: Violation[];
}

const ALLOWED: PlanVerdict = { action: "allow", violations: [] };

interface CompiledSchema {
  validator: Validator;
  /** Top-level properties the schema names, or null when every property is planned. */
  planned: ReadonlySet<string> | null;
  patterns: readonly RegExp[];
}

export interface CompiledPlan {
  version: number;
  events: ReadonlyMap<string, CompiledSchema>;
  traits: CompiledSchema | null;
  unplanned: PlanPolicy;
  violations: PlanPolicy;
}

/** A `$ref` the plan cannot resolve by itself: the validator would fetch nothing and fail every message. */
function findRemoteRef(schema: unknown, path: string): string | null {
  if (schema === null || typeof schema !== "object") return null;
  for (const [key, value] of Object.entries(schema)) {
    if (key === "$ref" && typeof value === "string" && !value.startsWith("#")) return `${path}.$ref`;
    const found = findRemoteRef(value, `${path}.${key}`);
    if (found) return found;
  }
  return null;
}

/** Throws for the first `pattern` or `patternProperties` key, at any depth, that is not a regular expression. */
function checkPatterns(schema: unknown, path: string): void {
  if (schema === null || typeof schema !== "object") return;
  const record = schema as Record<string, unknown>;
  const patterns = [
    ...(typeof record.pattern === "string" ? [[record.pattern, `${path}.pattern`]] : []),
    ...(record.patternProperties && typeof record.patternProperties === "object"
      ? Object.keys(record.patternProperties).map((p) => [p, `${path}.patternProperties`])
      : []),
  ];
  for (const [pattern = "", where = path] of patterns) {
    try {
      new RegExp(pattern, "u");
    } catch {
      throw new PlanError(`${where} has an invalid pattern ${JSON.stringify(pattern)}`, where);
    }
  }
  for (const [key, value] of Object.entries(record)) checkPatterns(value, `${path}.${key}`);
}

function compileSchema(schema: Schema | boolean, path: string): CompiledSchema {
  const remote = findRemoteRef(schema, path);
  if (remote) throw new PlanError(`${remote} points outside the plan; only local references ("#/…") resolve`, remote);
  checkPatterns(schema, path);
  const patterns =
    typeof schema === "boolean" ? [] : Object.keys(schema.patternProperties ?? {}).map((p) => new RegExp(p, "u"));
  let validator: Validator;
  try {
    // The validator annotates the schema it is given: it gets its own copy.
    validator = new Validator(structuredClone(schema) as Schema, "2020-12", false);
    validator.validate({});
  } catch (err) {
    throw new PlanError(`${path} is not a schema this service can apply: ${String(err)}`, path);
  }
  if (typeof schema === "boolean") return { validator, planned: null, patterns: [] };
  const extra = schema.additionalProperties;
  const named = schema.properties && typeof schema.properties === "object" ? Object.keys(schema.properties) : [];
  // A schema that allows additional properties (or says nothing of its properties) plans them all.
  const plansAll =
    (extra !== undefined && extra !== false) || (schema.properties === undefined && patterns.length === 0);
  return { validator, planned: plansAll ? null : new Set(named), patterns };
}

export class PlanError extends Error {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

/** Compiles a plan's schemas; throws `PlanError` naming the schema that cannot be applied. */
export function compilePlan(plan: TrackingPlanInput, version: number): CompiledPlan {
  const events = new Map<string, CompiledSchema>();
  for (const [name, schema] of Object.entries(plan.events)) {
    events.set(name, compileSchema(schema as Schema | boolean, `events.${name}`));
  }
  return {
    version,
    events,
    traits: plan.traits === undefined ? null : compileSchema(plan.traits as Schema | boolean, "traits"),
    unplanned: plan.unplanned,
    violations: plan.violations,
  };
}

/** The validator writes instance locations as URI fragments: `first%20name` is the property `first name`. */
function decodeSegment(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** `#/products/0/price` → `products[].price`: array positions are folded so counts group by property. */
function propertyPath(pointer: string): string {
  const parts = pointer.replace(/^#\/?/, "").split("/").filter(Boolean);
  let out = "";
  for (const raw of parts) {
    const part = decodeSegment(raw).replace(/~1/g, "/").replace(/~0/g, "~");
    if (/^\d+$/.test(part)) out += "[]";
    else out += out === "" ? part : `.${part}`;
  }
  return out;
}

function joinPath(parent: string, child: string): string {
  return parent === "" ? child : `${parent}.${child}`;
}

/** Keywords whose failure only says a sub-schema failed: the sub-schema's own error says what. */
const WRAPPERS = new Set([
  "properties",
  "patternProperties",
  "additionalProperties",
  "unevaluatedProperties",
  "items",
  "prefixItems",
  "additionalItems",
  "unevaluatedItems",
  "contains",
  "allOf",
  "anyOf",
  "oneOf",
  "not",
  "if",
  "then",
  "else",
  "$ref",
  "$dynamicRef",
  "$recursiveRef",
  "dependentSchemas",
  "propertyNames",
]);

const REQUIRED_NAME = /required property "((?:[^"\\]|\\.)*)"/;

function violationOf(unit: OutputUnit): Violation | null {
  const at = propertyPath(unit.instanceLocation);
  switch (unit.keyword) {
    case "required": {
      const name = REQUIRED_NAME.exec(unit.error)?.[1];
      const property = name === undefined ? at : joinPath(at, name);
      return { kind: "missing_required", property, message: `${property || "a property"} is required` };
    }
    case "dependentRequired":
      return { kind: "missing_required", property: at, message: unit.error };
    case "type":
      return { kind: "wrong_type", property: at, message: unit.error };
    case "false":
      return { kind: "unplanned_property", property: at, message: `${at} is not in the plan` };
    default:
      return WRAPPERS.has(unit.keyword) ? null : { kind: "format", property: at, message: unit.error };
  }
}

/** What one schema says of one object: its violations, without duplicates. */
function check(schema: CompiledSchema, value: Record<string, unknown>): Violation[] {
  const out: Violation[] = [];
  const seen = new Set<string>();
  const add = (v: Violation) => {
    const key = `${v.kind}\u0000${v.property}`;
    if (seen.has(key) || out.length >= MAX_VIOLATIONS_PER_MESSAGE) return;
    seen.add(key);
    out.push(v);
  };
  if (schema.planned !== null) {
    for (const key of Object.keys(value)) {
      if (!schema.planned.has(key) && !schema.patterns.some((p) => p.test(key))) {
        add({ kind: "unplanned_property", property: key, message: `${key} is not in the plan` });
      }
    }
  }
  let result: ReturnType<Validator["validate"]>;
  try {
    result = schema.validator.validate(value);
  } catch (err) {
    // The plan was checked when it was saved; should a schema still fail on some value, the value is not passed.
    add({ kind: "format", property: "", message: `the plan's schema could not be applied: ${String(err)}` });
    return out;
  }
  if (!result.valid) {
    let named = false;
    for (const unit of result.errors) {
      const v = violationOf(unit);
      if (v) {
        named = true;
        add(v);
      }
    }
    // A failure reported only by a combinator (anyOf, not, …) still counts: never valid by omission.
    if (!named && result.errors[0]) {
      const first = result.errors[0];
      add({ kind: "format", property: propertyPath(first.instanceLocation), message: first.error });
    }
  }
  return out;
}

function policyOf(plan: CompiledPlan, kind: ViolationKind): PlanPolicy {
  return UNPLANNED_KINDS.has(kind) ? plan.unplanned : plan.violations;
}

/** The plan's verdict on one message: `track` properties by event name, `identify` traits. */
export function checkAgainstPlan(plan: CompiledPlan, event: ProfileEvent): PlanVerdict {
  let violations: Violation[];
  if (event.type === "track" && event.name !== null) {
    const schema = plan.events.get(event.name);
    if (schema === undefined) {
      if (plan.unplanned === "allow") return ALLOWED;
      violations = [{ kind: "unplanned_event", property: "", message: `"${event.name}" is not in the plan` }];
    } else violations = check(schema, event.properties);
  } else if (event.type === "identify" && plan.traits !== null) {
    violations = check(plan.traits, event.traits);
  } else return ALLOWED;
  if (violations.length === 0) return ALLOWED;
  let action: PlanPolicy = "allow";
  const counted: Violation[] = [];
  for (const v of violations) {
    const policy = policyOf(plan, v.kind);
    if (policy === "allow") continue;
    counted.push(v);
    if (policy === "block" || action === "allow") action = policy;
  }
  return action === "allow" ? ALLOWED : { action, violations: counted };
}

/** The event name a violation is counted under: `identify` traits count under "identify". */
export function plannedNameOf(event: ProfileEvent): string {
  return event.type === "track" ? (event.name ?? "") : event.type;
}

/** The quarantine reason of a blocked message: what was wrong and what to do. */
export function blockedReason(event: ProfileEvent, violations: readonly Violation[]): string {
  const what = violations
    .slice(0, 5)
    .map((v) => `${v.kind}${v.property ? ` ${v.property}` : ""}`)
    .join(", ");
  const more = violations.length > 5 ? ` and ${violations.length - 5} more` : "";
  return `${plannedNameOf(event)} breaks the tracking plan (${what}${more}); fix the sender or the plan, then replay it`;
}
