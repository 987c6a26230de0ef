/**
 * The tracking plan's verdicts (DESIGN §9): which kind each violation is,
 * under which policy, and what a plan that cannot be applied is told.
 */
import { describe, expect, it } from "vitest";
import {
  blockedReason,
  checkAgainstPlan,
  compilePlan,
  PlanError,
  type TrackingPlanInput,
  trackingPlanInput,
} from "../../src/model/tracking-plan";
import { profileEvent } from "./fixtures";

const productViewed = {
  type: "object",
  required: ["product_id", "price"],
  properties: {
    product_id: { type: "string" },
    price: { type: "number", minimum: 0 },
    currency: { type: "string", pattern: "^[A-Z]{3}$" },
    products: { type: "array", items: { type: "object", required: ["sku"], properties: { sku: { type: "string" } } } },
  },
};

function plan(overrides: Partial<TrackingPlanInput> = {}) {
  return compilePlan(
    {
      events: { "Product Viewed": productViewed, "Signed Up": { type: "object", additionalProperties: true } },
      traits: { type: "object", properties: { email: { type: "string", format: "email" } } },
      unplanned: "flag",
      violations: "block",
      ...overrides,
    },
    1,
  );
}

const viewed = (properties: Record<string, unknown>) =>
  profileEvent({ type: "track", name: "Product Viewed", properties });

describe("a tracking plan's verdict", () => {
  it("lets an event that keeps to its schema through untouched", () => {
    expect(checkAgainstPlan(plan(), viewed({ product_id: "p1", price: 10, currency: "EUR" }))).toEqual({
      action: "allow",
      violations: [],
    });
  });

  it("names a missing required property, with its path", () => {
    const verdict = checkAgainstPlan(plan(), viewed({ product_id: "p1" }));
    expect(verdict.action).toBe("block");
    expect(verdict.violations).toEqual([{ kind: "missing_required", property: "price", message: "price is required" }]);
  });

  it("tells a wrong type from a value out of its format, and folds array positions", () => {
    const verdict = checkAgainstPlan(
      plan(),
      viewed({ product_id: "p1", price: "12.00", currency: "euro", products: [{ sku: "a" }, { sku: 7 }, {}] }),
    );
    expect(verdict.violations.map((v) => [v.kind, v.property])).toEqual(
      expect.arrayContaining([
        ["wrong_type", "price"],
        ["format", "currency"],
        ["wrong_type", "products[].sku"],
        ["missing_required", "products[].sku"],
      ]),
    );
    expect(verdict.violations).toHaveLength(4);
  });

  it("flags an unplanned property under the unplanned policy while the violations policy blocks", () => {
    const verdict = checkAgainstPlan(plan(), viewed({ product_id: "p1", price: 3, colour: "red" }));
    expect(verdict).toEqual({
      action: "flag",
      violations: [{ kind: "unplanned_property", property: "colour", message: "colour is not in the plan" }],
    });
  });

  it("treats every property as planned when the schema allows additional ones", () => {
    const e = profileEvent({ type: "track", name: "Signed Up", properties: { anything: 1 } });
    expect(checkAgainstPlan(plan(), e).action).toBe("allow");
  });

  it("reports an explicitly forbidden extra property once, as unplanned", () => {
    const strict = plan({ events: { "Product Viewed": { ...productViewed, additionalProperties: false } } });
    const verdict = checkAgainstPlan(strict, viewed({ product_id: "p1", price: 1, extra: true }));
    expect(verdict.violations).toEqual([
      { kind: "unplanned_property", property: "extra", message: "extra is not in the plan" },
    ]);
  });

  it("flags, blocks or allows an unplanned event by the unplanned policy", () => {
    const e = profileEvent({ type: "track", name: "Coupon Entered", properties: {} });
    expect(checkAgainstPlan(plan(), e)).toEqual({
      action: "flag",
      violations: [{ kind: "unplanned_event", property: "", message: '"Coupon Entered" is not in the plan' }],
    });
    expect(checkAgainstPlan(plan({ unplanned: "block" }), e).action).toBe("block");
    expect(checkAgainstPlan(plan({ unplanned: "allow" }), e)).toEqual({ action: "allow", violations: [] });
  });

  it("checks identify traits, and leaves page calls alone", () => {
    const bad = profileEvent({ type: "identify", traits: { email: "not an address" } });
    expect(checkAgainstPlan(plan(), bad).violations).toEqual([
      expect.objectContaining({ kind: "format", property: "email" }),
    ]);
    expect(checkAgainstPlan(plan(), profileEvent({ type: "page", name: "Home" })).action).toBe("allow");
  });

  it("never passes an event a combinator rejects, even when no leaf says why", () => {
    const p = plan({ events: { "Product Viewed": { not: { required: ["price"] } } } });
    const verdict = checkAgainstPlan(p, viewed({ price: 1 }));
    expect(verdict.action).toBe("block");
    expect(verdict.violations[0]?.kind).toBe("format");
  });

  it("names a property with a space or a slash as it was sent", () => {
    const p = plan({
      events: {
        "Product Viewed": {
          type: "object",
          properties: { "first name": { type: "string" }, "a/b": { type: "number" } },
          additionalProperties: false,
        },
      },
    });
    const verdict = checkAgainstPlan(p, viewed({ "first name": 3, "a/b": "x" }));
    expect(verdict.violations.map((v) => v.property).sort()).toEqual(["a/b", "first name"]);
  });

  it("keeps at most 20 violations of one message", () => {
    const properties = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`stray_${i}`, i]));
    const verdict = checkAgainstPlan(plan(), viewed({ product_id: "p", price: 1, ...properties }));
    expect(verdict.violations).toHaveLength(20);
  });

  it("says in the quarantine reason what broke and what to do", () => {
    const verdict = checkAgainstPlan(plan(), viewed({ price: "x" }));
    expect(blockedReason(viewed({}), verdict.violations)).toBe(
      "Product Viewed breaks the tracking plan (missing_required product_id, wrong_type price); fix the sender or the plan, then replay it",
    );
  });
});

describe("a plan that cannot be applied", () => {
  it("is refused when a schema points outside the plan", () => {
    expect(() => plan({ events: { A: { $ref: "https://example.com/schema.json" } } })).toThrow(PlanError);
    expect(() => plan({ events: { A: { $ref: "https://example.com/schema.json" } } })).toThrow(
      /events\.A\.\$ref points outside the plan/,
    );
  });

  it("is refused when a property pattern is not a regular expression", () => {
    expect(() => plan({ events: { A: { patternProperties: { "(": {} } } } })).toThrow(/invalid pattern/);
    expect(() => plan({ events: { A: { properties: { sku: { type: "string", pattern: "[" } } } } })).toThrow(
      'events.A.properties.sku.pattern has an invalid pattern "["',
    );
  });

  it("is refused by the input schema when a policy or schema has the wrong shape", () => {
    expect(trackingPlanInput.safeParse({ events: {}, unplanned: "drop", violations: "flag" }).success).toBe(false);
    expect(trackingPlanInput.safeParse({ events: { A: 3 }, unplanned: "flag", violations: "flag" }).success).toBe(
      false,
    );
    expect(trackingPlanInput.safeParse({ events: {}, unplanned: "flag", violations: "flag", extra: 1 }).success).toBe(
      false,
    );
  });
});
