import { describe, expect, it } from "vitest";
import { sampleRatioMismatch } from "../../src/model/experiment-stats";
import {
  assignmentPoint,
  assignVariant,
  conversionRevenue,
  experimentDefinition,
  variantAt,
} from "../../src/model/experiments";

const personalizedVsStatic = {
  id: "spring-recs",
  control: "static",
  variants: [
    { key: "static", weight: 1, strategy: "static", productIds: ["sku-001", "sku-002"] },
    { key: "personalized", weight: 1, strategy: "personalized" },
  ],
};

describe("an experiment's definition", () => {
  it("takes the defaults a marketer expects: Order Completed within 7 days", () => {
    expect(experimentDefinition.parse(personalizedVsStatic)).toMatchObject({
      conversionEvent: "Order Completed",
      attributionWindowDays: 7,
    });
  });

  it("names the field that is wrong", () => {
    const issues = (input: unknown) =>
      experimentDefinition.safeParse(input).error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`) ?? [];
    expect(issues({ ...personalizedVsStatic, id: "Spring Recs!" })[0]).toMatch(/^id: /);
    expect(issues({ ...personalizedVsStatic, control: "holdout" })[0]).toMatch(/^control: .*static, personalized/);
    expect(
      issues({
        ...personalizedVsStatic,
        variants: [{ key: "a", weight: 1, strategy: "static" }, personalizedVsStatic.variants[1]],
      })[0],
    ).toMatch(/^variants\.0\.productIds: a static variant needs productIds/);
    expect(
      issues({
        ...personalizedVsStatic,
        variants: [{ ...personalizedVsStatic.variants[1], weight: 0 }, personalizedVsStatic.variants[1]],
      }).join("\n"),
    ).toMatch(/variants\.0\.weight: must be a positive number/);
    expect(issues({ ...personalizedVsStatic, variants: [personalizedVsStatic.variants[1]] })[0]).toMatch(
      /^variants: an experiment compares at least two variants/,
    );
    expect(
      issues({
        ...personalizedVsStatic,
        variants: [personalizedVsStatic.variants[1], personalizedVsStatic.variants[1]],
        control: "personalized",
      })[0],
    ).toMatch(/variant key "personalized" appears twice/);
  });

  it("accepts a holdout that shows no block", () => {
    const parsed = experimentDefinition.parse({
      ...personalizedVsStatic,
      variants: [...personalizedVsStatic.variants, { key: "holdout", weight: 0.5, strategy: "none" }],
    });
    expect(parsed.variants.map((v) => v.strategy)).toEqual(["static", "personalized", "none"]);
  });
});

describe("assignment", () => {
  it("splits the line by relative weights, in the variants' order", () => {
    const variants = [
      { key: "a", weight: 3 },
      { key: "b", weight: 1 },
    ];
    expect(variantAt(variants, 0)).toBe("a");
    expect(variantAt(variants, 0.7499)).toBe("a");
    expect(variantAt(variants, 0.75)).toBe("b");
    expect(variantAt(variants, 0.999999)).toBe("b");
  });

  it("is the same for the same person and salt, every time", async () => {
    const first = await assignmentPoint("salt-1", "user_id:42");
    expect(await assignmentPoint("salt-1", "user_id:42")).toBe(first);
    expect(await assignmentPoint("salt-2", "user_id:42")).not.toBe(first);
    expect(first).toBeGreaterThanOrEqual(0);
    expect(first).toBeLessThan(1);
  });

  it("honours the weights over many people: no sample-ratio mismatch for 50/50 or 70/30", async () => {
    for (const weights of [
      [1, 1],
      [70, 30],
    ]) {
      const variants = weights.map((weight, i) => ({ key: `v${i}`, weight, strategy: "personalized" as const }));
      const counts = new Map<string, number>();
      for (let i = 0; i < 10_000; i++) {
        const v = await assignVariant({ variants }, "exp-salt", `user_id:person-${i}`);
        counts.set(v, (counts.get(v) ?? 0) + 1);
      }
      const observed = variants.map((v) => counts.get(v.key) ?? 0);
      expect(sampleRatioMismatch(observed, weights).mismatch).toBe(false);
      const share = (weights[0] ?? 0) / weights.reduce((a, w) => a + w, 0);
      expect(Math.abs((observed[0] ?? 0) / 10_000 - share)).toBeLessThan(0.02);
    }
  });
});

describe("a conversion's revenue", () => {
  it("is revenue, else total, else the products' price × quantity", () => {
    expect(conversionRevenue({ revenue: 42.5, total: 50 })).toBe(42.5);
    expect(conversionRevenue({ total: 50 })).toBe(50);
    expect(
      conversionRevenue({
        products: [{ price: 10, quantity: 2 }, { price: 5.5 }, { name: "no price" }],
      }),
    ).toBe(25.5);
  });

  it("is unknown when the event carries none", () => {
    expect(conversionRevenue({})).toBeNull();
    expect(conversionRevenue({ revenue: "12" })).toBeNull();
    expect(conversionRevenue({ products: [{ quantity: 3 }] })).toBeNull();
  });
});
