/**
 * Audiences (DESIGN §8): a rule over a person's traits, computed traits,
 * affinities, consent and recent events, evaluated in their actor on each
 * event and when time alone changes the answer.
 *
 * A rule is a tree of `all` / `any` / `not` over leaves. An event leaf ("did
 * X at least n times within W") is answered exactly from the newest n
 * timestamps of matching events, which the actor keeps per condition
 * (`RecencySpec`): true while the n-th newest is within W, so the person
 * leaves the moment it is W old. Each evaluation also says when the answer
 * could next change with no new event — an event leaving its window, a
 * windowed computed trait dropping a bucket, an affinity decaying across a
 * threshold — and the actor sets its alarm for then.
 */
import { z } from "zod";
import { type DecayingScore, decayedScore } from "./affinity";
import {
  type CompiledTrait,
  type ComputedTraitDefinition,
  canonicalJson,
  compileTrait,
  eventName,
  fingerprintOf,
  numberOf,
  type Scalar,
  sameScalar,
  scalar,
  TRAIT_KEY,
  whereFilter,
} from "./computed-traits";
import { rollingWindow, windowMs } from "./time-windows";

export const AUDIENCE_KEY = /^[a-z0-9][a-z0-9_-]{0,63}$/;
export const AUDIENCE_KEY_RULE = "an audience key is 1–64 lower-case letters, digits, _ or -";

export const OPS = ["eq", "neq", "gt", "gte", "lt", "lte", "exists", "contains"] as const;
export type Op = (typeof OPS)[number];

/** Bounds on a rule, so evaluating every audience on every event stays cheap. */
export const RULE_LIMITS = { depth: 6, leaves: 32, children: 20, atLeast: 100 } as const;

const AT_LEAST_RULE = `atLeast is a whole number from 1 to ${RULE_LIMITS.atLeast}`;

export const eventLeaf = z.strictObject({
  event: eventName,
  within: rollingWindow,
  atLeast: z
    .number({ error: AT_LEAST_RULE })
    .int(AT_LEAST_RULE)
    .min(1, AT_LEAST_RULE)
    .max(RULE_LIMITS.atLeast, AT_LEAST_RULE)
    .default(1),
  where: whereFilter.optional(),
});
const comparison = { op: z.enum(OPS), value: scalar.optional() };
export const traitLeaf = z.strictObject({ trait: z.string().min(1).max(256), ...comparison });
export const computedLeaf = z.strictObject({
  computed: z.string().regex(TRAIT_KEY, "name a computed trait by its key"),
  ...comparison,
});
export const affinityLeaf = z.strictObject({
  affinity: z
    .string()
    .max(300)
    .regex(
      /^(category|brand|product):.+$/,
      'an affinity dimension is "category:<slug>", "brand:<slug>" or "product:<id>"',
    ),
  op: z.enum(OPS),
  value: z.number().optional(),
});
export const consentLeaf = z.strictObject({ consent: z.literal("personalization") });

type EventLeaf = z.output<typeof eventLeaf>;
type TraitLeaf = z.output<typeof traitLeaf>;
type ComputedLeaf = z.output<typeof computedLeaf>;
type AffinityLeaf = z.output<typeof affinityLeaf>;
type ConsentLeaf = z.output<typeof consentLeaf>;

export type Rule =
  | { all: Rule[] }
  | { any: Rule[] }
  | { not: Rule }
  | EventLeaf
  | TraitLeaf
  | ComputedLeaf
  | AffinityLeaf
  | ConsentLeaf;

const LEAVES = {
  event: eventLeaf,
  trait: traitLeaf,
  computed: computedLeaf,
  affinity: affinityLeaf,
  consent: consentLeaf,
};

export type ParsedRule = { ok: true; rule: Rule } | { ok: false; path: string; message: string };

/**
 * Parses a rule tree, answering the first problem with its path
 * (`rule.all.1.within`) in words that say what to send instead.
 */
export function parseRule(value: unknown): ParsedRule {
  let leaves = 0;
  const fail = (path: string, message: string): ParsedRule => ({ ok: false, path, message });
  const walk = (v: unknown, path: string, depth: number): ParsedRule => {
    if (depth > RULE_LIMITS.depth) return fail(path, `rules nest at most ${RULE_LIMITS.depth} deep`);
    if (!v || typeof v !== "object" || Array.isArray(v)) {
      return fail(path, "a rule is an object: { all: [...] }, { any: [...] }, { not: rule } or a condition");
    }
    const o = v as Record<string, unknown>;
    for (const group of ["all", "any"] as const) {
      if (!(group in o)) continue;
      if (Object.keys(o).length !== 1) return fail(path, `{ ${group}: [...] } takes nothing beside ${group}`);
      const list = o[group];
      if (!Array.isArray(list) || list.length === 0 || list.length > RULE_LIMITS.children) {
        return fail(`${path}.${group}`, `${group} is a list of 1 to ${RULE_LIMITS.children} rules`);
      }
      const rules: Rule[] = [];
      for (const [i, child] of list.entries()) {
        const parsed = walk(child, `${path}.${group}.${i}`, depth + 1);
        if (!parsed.ok) return parsed;
        rules.push(parsed.rule);
      }
      return { ok: true, rule: group === "all" ? { all: rules } : { any: rules } };
    }
    if ("not" in o) {
      if (Object.keys(o).length !== 1) return fail(path, "{ not: rule } takes nothing beside not");
      const parsed = walk(o.not, `${path}.not`, depth + 1);
      return parsed.ok ? { ok: true, rule: { not: parsed.rule } } : parsed;
    }
    const kind = (Object.keys(LEAVES) as (keyof typeof LEAVES)[]).find((k) => k in o);
    if (!kind) {
      return fail(
        path,
        "a condition names one of event, trait, computed, affinity or consent (or group rules with all, any, not)",
      );
    }
    leaves += 1;
    if (leaves > RULE_LIMITS.leaves) return fail(path, `a rule has at most ${RULE_LIMITS.leaves} conditions`);
    const parsed = LEAVES[kind].safeParse(o);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const at = issue?.path.length ? `${path}.${issue.path.join(".")}` : path;
      return fail(at, issue?.message ?? "invalid condition");
    }
    const leaf = parsed.data as Rule;
    if ("op" in leaf && leaf.op !== "exists" && leaf.value === undefined) {
      return fail(`${path}.value`, `op "${leaf.op}" compares with a value: add "value"`);
    }
    return { ok: true, rule: leaf };
  };
  return walk(value, "rule", 1);
}

export const webhookDestination = z.strictObject({
  type: z.literal("webhook"),
  url: z
    .string()
    .max(2048)
    .refine((u) => {
      try {
        const url = new URL(u);
        return url.protocol === "https:" || url.protocol === "http:";
      } catch {
        return false;
      }
    }, "url must be an absolute http(s) URL"),
  secret: z.string().min(16, "secret must be at least 16 characters (it signs each delivery)").max(256),
});
export type WebhookDestination = z.infer<typeof webhookDestination>;

export const audienceDefinition = z.strictObject({
  name: z.string().trim().min(1, "name the audience").max(200),
  rule: z.unknown(),
  destinations: z.array(webhookDestination).max(5, "an audience has at most 5 destinations").default([]),
});
export type AudienceDefinition = Omit<z.output<typeof audienceDefinition>, "rule"> & { rule: Rule };

/** The newest timestamps of events matching one event condition, kept per person. */
export interface RecencySpec {
  id: string;
  event: string;
  where: Record<string, Scalar> | undefined;
  /** How many timestamps to keep: the largest `atLeast` asking for this event and filter. */
  keep: number;
}

/** An event leaf with the recency list that answers it. */
type CompiledLeaf = EventLeaf & { spec: string; windowMs: number };
export type CompiledRule =
  | { all: CompiledRule[] }
  | { any: CompiledRule[] }
  | { not: CompiledRule }
  | CompiledLeaf
  | TraitLeaf
  | ComputedLeaf
  | AffinityLeaf
  | ConsentLeaf;

export interface CompiledAudience {
  key: string;
  name: string;
  /** When the audience was created: a membership older than this began in an audience deleted since under the same key. */
  createdAt: number;
  rule: CompiledRule;
  destinations: WebhookDestination[];
}

function recencyKey(event: string, where: Record<string, Scalar> | undefined): string {
  return canonicalJson({ event, where: where ?? null });
}

/** Event leaves' recency lists: one per event and filter, keeping as many timestamps as the most demanding leaf needs. */
export function recencySpecsOf(rules: readonly Rule[]): Map<string, RecencySpec> {
  const keep = new Map<string, { event: string; where: Record<string, Scalar> | undefined; keep: number }>();
  const visit = (r: Rule) => {
    if ("all" in r) r.all.forEach(visit);
    else if ("any" in r) r.any.forEach(visit);
    else if ("not" in r) visit(r.not);
    else if ("event" in r) {
      const key = recencyKey(r.event, r.where);
      const held = keep.get(key);
      keep.set(key, { event: r.event, where: r.where, keep: Math.max(held?.keep ?? 0, r.atLeast) });
    }
  };
  rules.forEach(visit);
  const specs = new Map<string, RecencySpec>();
  for (const [key, s] of keep) specs.set(key, { id: `${fingerprintOf(key)}-${s.keep}`, ...s });
  return specs;
}

export function compileRule(rule: Rule, specs: ReadonlyMap<string, RecencySpec>): CompiledRule {
  if ("all" in rule) return { all: rule.all.map((r) => compileRule(r, specs)) };
  if ("any" in rule) return { any: rule.any.map((r) => compileRule(r, specs)) };
  if ("not" in rule) return { not: compileRule(rule.not, specs) };
  if ("event" in rule) {
    const spec = specs.get(recencyKey(rule.event, rule.where));
    return { ...rule, spec: spec?.id ?? "", windowMs: windowMs(rule.within) ?? 0 };
  }
  return rule;
}

/** What a rule is evaluated against: one person's state at `now`. */
export interface AudienceInputs {
  now: number;
  traits: Readonly<Record<string, unknown>>;
  /** Consent to personalization: refused (false), given (true), never said (null). */
  personalization: boolean | null;
  /** A dimension's stored score (undefined: none). */
  affinity(dimension: string): DecayingScore | undefined;
  halfLifeMs: number;
  /** A computed trait's value now and when it next changes by time alone; undefined when no such trait is defined. */
  computed(key: string): { value: Scalar | null; changesAt: number | null } | undefined;
  /** A recency list's timestamps, newest first. */
  recent(spec: string): readonly number[];
}

export interface Evaluation {
  member: boolean;
  /** The earliest time the answer may change with no new event; null when only an event can change it. */
  changesAt: number | null;
}

function earliest(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}

/** Compares a value held about a person with a rule's value (see README "Audiences" for each op). */
export function compare(held: unknown, op: Op, value: Scalar | undefined): boolean {
  const present = held !== undefined && held !== null && held !== "";
  switch (op) {
    case "exists":
      return present;
    case "eq":
      return present && value !== undefined && !Array.isArray(held) && sameScalar(held, value);
    case "neq":
      return !compare(held, "eq", value);
    case "contains":
      if (value === undefined || !present) return false;
      if (Array.isArray(held)) return held.some((h) => sameScalar(h, value));
      return typeof held === "string" && held.toLowerCase().includes(String(value).toLowerCase());
    default: {
      if (value === undefined || !present) return false;
      let order: number;
      if (typeof value === "number") {
        const n = numberOf(held);
        if (n === null) return false;
        order = n - value;
      } else if (typeof value === "string" && typeof held === "string") {
        order = held < value ? -1 : held > value ? 1 : 0;
      } else return false;
      if (op === "gt") return order > 0;
      if (op === "gte") return order >= 0;
      if (op === "lt") return order < 0;
      return order <= 0;
    }
  }
}

/**
 * When a decaying score falls through `threshold` (as stored, `s.score` at
 * `s.asOf`, halving every `halfLifeMs`): the first millisecond `decayedScore`
 * is at or below it — or, `strictly`, below it — so an evaluation then sees
 * the answer change; null when it is already through at `s.asOf`.
 */
export function decaysBelowAt(
  s: DecayingScore,
  threshold: number,
  halfLifeMs: number,
  strictly = false,
): number | null {
  const through = (t: number) => {
    const score = decayedScore(s, t, halfLifeMs);
    return strictly ? score < threshold : score <= threshold;
  };
  if (threshold <= 0 || through(s.asOf)) return null;
  // The logarithm lands on or next to the crossing (it rounds, and an exact halving is still equal, not below).
  let at = s.asOf + Math.ceil(halfLifeMs * Math.log2(s.score / threshold));
  while (!through(at)) at += 1;
  while (at - 1 > s.asOf && through(at - 1)) at -= 1;
  return at;
}

export function evaluateRule(rule: CompiledRule, inputs: AudienceInputs): Evaluation {
  if ("all" in rule || "any" in rule) {
    const children = "all" in rule ? rule.all : rule.any;
    let changesAt: number | null = null;
    let count = 0;
    for (const child of children) {
      const e = evaluateRule(child, inputs);
      changesAt = earliest(changesAt, e.changesAt);
      if (e.member) count += 1;
    }
    return { member: "all" in rule ? count === children.length : count > 0, changesAt };
  }
  if ("not" in rule) {
    const e = evaluateRule(rule.not, inputs);
    return { member: !e.member, changesAt: e.changesAt };
  }
  if ("event" in rule) {
    const newest = inputs.recent(rule.spec)[rule.atLeast - 1];
    if (newest === undefined || newest < inputs.now - rule.windowMs) return { member: false, changesAt: null };
    // In until the n-th newest matching event is a whole window old.
    return { member: true, changesAt: newest + rule.windowMs + 1 };
  }
  if ("trait" in rule) return { member: compare(inputs.traits[rule.trait], rule.op, rule.value), changesAt: null };
  if ("computed" in rule) {
    const c = inputs.computed(rule.computed);
    return { member: compare(c?.value, rule.op, rule.value), changesAt: c?.changesAt ?? null };
  }
  if ("affinity" in rule) {
    const s = inputs.affinity(rule.affinity);
    const score = s ? decayedScore(s, inputs.now, inputs.halfLifeMs) : 0;
    const member = rule.op === "exists" ? s !== undefined : compare(score, rule.op, rule.value);
    // Scores only fall without events: a threshold above the score now is never crossed by time alone.
    const ordered = rule.op === "gt" || rule.op === "gte" || rule.op === "lt" || rule.op === "lte";
    // gt and lte turn when the score is at or below the value; gte and lt only once it is below.
    const strictly = rule.op === "gte" || rule.op === "lt";
    const at =
      s && ordered && rule.value !== undefined ? decaysBelowAt(s, rule.value, inputs.halfLifeMs, strictly) : null;
    return { member, changesAt: at !== null && at > inputs.now ? at : null };
  }
  return { member: inputs.personalization !== false, changesAt: null };
}

/** Whether the rule names a recency list, computed trait or affinity whose state this audience needs. */
export function computedKeysOf(rule: Rule | CompiledRule): string[] {
  if ("all" in rule) return rule.all.flatMap(computedKeysOf);
  if ("any" in rule) return rule.any.flatMap(computedKeysOf);
  if ("not" in rule) return computedKeysOf(rule.not);
  return "computed" in rule ? [rule.computed] : [];
}

/** The recency list after one more matching event: its newest `keep` timestamps, newest first. */
export function addRecent(list: readonly number[], at: number, keep: number): number[] {
  if (list.length >= keep && at <= (list[keep - 1] ?? Number.NEGATIVE_INFINITY)) return list as number[];
  const next = [...list, at].sort((a, b) => b - a);
  return next.slice(0, keep);
}

/** The recency list after a batch's matching events; the same list when none is among its newest `keep`. */
export function withRecent(list: readonly number[], times: readonly number[], keep: number): readonly number[] {
  const threshold = list.length >= keep ? (list[keep - 1] ?? Number.NEGATIVE_INFINITY) : Number.NEGATIVE_INFINITY;
  const newer = times.filter((t) => t > threshold);
  if (newer.length === 0) return list;
  return [...list, ...newer].sort((a, b) => b - a).slice(0, keep);
}

/** Two people's recency lists as one (profiles joined). */
export function mergeRecent(a: readonly number[], b: readonly number[], keep: number): number[] {
  return [...a, ...b].sort((x, y) => y - x).slice(0, keep);
}

/** A membership that began, or ended. */
export interface Transition {
  audience: string;
  name: string;
  kind: "entered" | "exited";
  /** When the membership began (for an exit: the stint it ends). */
  enteredAt: number;
  at: number;
}

/**
 * What changed between the memberships held (`audience → enteredAt`) and
 * this evaluation's answers. Audiences no longer defined are left to the
 * caller (they end without a transition: their destinations went with them).
 */
export function transitionsOf(
  held: ReadonlyMap<string, number>,
  answers: ReadonlyMap<string, { name: string; member: boolean }>,
  now: number,
): Transition[] {
  const out: Transition[] = [];
  for (const [audience, { name, member }] of answers) {
    const enteredAt = held.get(audience);
    if (member && enteredAt === undefined) out.push({ audience, name, kind: "entered", enteredAt: now, at: now });
    if (!member && enteredAt !== undefined) out.push({ audience, name, kind: "exited", enteredAt, at: now });
  }
  return out;
}

/** The compiled definitions every actor evaluates: audiences, computed traits, and the recency lists they need. */
export interface Definitions {
  audiences: CompiledAudience[];
  traits: CompiledTrait[];
  traitsByKey: ReadonlyMap<string, CompiledTrait>;
  recency: RecencySpec[];
  /** A hash of everything above: equal when nothing changed. */
  fingerprint: string;
}

export const NO_DEFINITIONS: Definitions = {
  audiences: [],
  traits: [],
  traitsByKey: new Map(),
  recency: [],
  fingerprint: "none",
};

/** Compiles stored definitions once per load (not per event): windows parsed, recency lists shared, a fingerprint of it all. */
export function compileDefinitions(
  audiences: readonly ({ key: string; createdAt?: number } & AudienceDefinition)[],
  traits: readonly { key: string; definition: ComputedTraitDefinition }[],
): Definitions {
  const specs = recencySpecsOf(audiences.map((a) => a.rule));
  const compiledTraits = traits.map((t) => compileTrait(t.key, t.definition));
  return {
    audiences: audiences.map((a) => ({
      key: a.key,
      name: a.name,
      createdAt: a.createdAt ?? 0,
      rule: compileRule(a.rule, specs),
      destinations: a.destinations,
    })),
    traits: compiledTraits,
    traitsByKey: new Map(compiledTraits.map((t) => [t.key, t])),
    recency: [...specs.values()],
    fingerprint: fingerprintOf(
      canonicalJson({
        a: audiences.map((a) => [a.key, a.name, a.createdAt ?? 0, a.rule, a.destinations.map((d) => d.url)]),
        t: compiledTraits.map((t) => [t.key, t.fingerprint]),
      }),
    ),
  };
}
