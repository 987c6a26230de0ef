/**
 * Experiments (DESIGN §7): what a marketer defines — variants with weights
 * and a content strategy, the control, the conversion event and the
 * attribution window — and how a person is assigned to a variant.
 *
 * Assignment is deterministic: the SHA-256 of the experiment's salt and the
 * person's id, read as a number in [0, 1), falls into one variant's share of
 * the weights. The person's actor records the variant on first exposure, so
 * later calls (and a merge of an anonymous visitor into a known user) keep
 * it even where the hash of another id would say otherwise.
 */
import { z } from "zod";
import { type CatalogIndex, type PersonalSignals, type Recommendation, recommend } from "./ranking";

export const EXPERIMENT_ID = /^[a-z0-9-]{1,64}$/;
const VARIANT_KEY = /^[a-z0-9_-]{1,32}$/;

/** Products a static variant may name: what one recommendation block shows at most. */
const STATIC_PRODUCTS_LIMIT = 20;

export const variantStrategy = z.enum(["personalized", "trending", "static", "none"]);
export type VariantStrategy = z.infer<typeof variantStrategy>;

export const experimentVariant = z
  .object({
    key: z.string().regex(VARIANT_KEY, "use 1–32 lower-case letters, digits, _ or -"),
    weight: z.number().finite().positive("must be a positive number (weights are relative)"),
    strategy: variantStrategy,
    productIds: z.array(z.string().trim().min(1).max(128)).min(1).max(STATIC_PRODUCTS_LIMIT).optional(),
  })
  .refine((v) => v.strategy !== "static" || (v.productIds?.length ?? 0) > 0, {
    message: "a static variant needs productIds: the products it shows to everyone",
    path: ["productIds"],
  });
export type ExperimentVariant = z.infer<typeof experimentVariant>;

export const experimentDefinition = z
  .object({
    id: z.string().regex(EXPERIMENT_ID, "use 1–64 lower-case letters, digits or -"),
    name: z.string().trim().min(1).max(200).optional(),
    campaign: z.string().trim().min(1).max(128).optional(),
    control: z.string().min(1),
    variants: z.array(experimentVariant).min(2, "an experiment compares at least two variants").max(10),
    conversionEvent: z.string().trim().min(1).max(200).default("Order Completed"),
    attributionWindowDays: z.number().int().min(1).max(90).default(7),
  })
  .superRefine((e, ctx) => {
    const keys = e.variants.map((v) => v.key);
    const repeated = keys.find((k, i) => keys.indexOf(k) !== i);
    if (repeated !== undefined) {
      ctx.addIssue({ code: "custom", path: ["variants"], message: `variant key "${repeated}" appears twice` });
    }
    if (!keys.includes(e.control)) {
      ctx.addIssue({
        code: "custom",
        path: ["control"],
        message: `the control must be one of the variants' keys (${keys.join(", ")})`,
      });
    }
  });
export type ExperimentDefinition = z.infer<typeof experimentDefinition>;

/** An experiment as the API answers it: created, read, listed, started or stopped. */
export const experimentResponse = z.object({
  id: z.string(),
  name: z.string().nullable(),
  campaign: z.string().nullable(),
  status: z.enum(["running", "stopped"]),
  control: z.string(),
  variants: z.array(
    z.object({
      key: z.string(),
      weight: z.number(),
      strategy: variantStrategy,
      productIds: z.array(z.string()).optional(),
    }),
  ),
  conversionEvent: z.string(),
  attributionWindowDays: z.number().int(),
  createdAt: z.string().describe("ISO 8601"),
  stoppedAt: z.string().nullable().describe("ISO 8601; null while running"),
});
export type ExperimentResponse = z.infer<typeof experimentResponse>;

/**
 * The variant whose share of the weights holds `point` in [0, 1): variants
 * in their given order, each taking weight ÷ total of the line.
 */
export function variantAt(variants: readonly Pick<ExperimentVariant, "key" | "weight">[], point: number): string {
  const total = variants.reduce((a, v) => a + v.weight, 0);
  let upTo = 0;
  for (const v of variants) {
    upTo += v.weight / total;
    if (point < upTo) return v.key;
  }
  // Rounding can leave the last sliver of the line past the sum of shares.
  return variants.at(-1)?.key ?? "";
}

/** A person's point on [0, 1) for one experiment: the first 52 bits of SHA-256(salt ":" person). */
export async function assignmentPoint(salt: string, personId: string): Promise<number> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`${salt}:${personId}`)));
  let value = 0;
  // 6.5 bytes: as many bits as a double holds exactly.
  for (let i = 0; i < 6; i++) value = value * 256 + (digest[i] ?? 0);
  value = value * 16 + ((digest[6] ?? 0) >> 4);
  return value / 2 ** 52;
}

/** The variant a person is assigned on first exposure. */
export async function assignVariant(
  experiment: { variants: readonly Pick<ExperimentVariant, "key" | "weight">[] },
  salt: string,
  personId: string,
): Promise<string> {
  return variantAt(experiment.variants, await assignmentPoint(salt, personId));
}

/**
 * Revenue of a conversion event: `revenue`, else `total`, else the sum of
 * `products[].price × quantity` (quantity 1 when absent), as Segment's
 * e-commerce spec names them. Null when none is there.
 */
export function conversionRevenue(properties: Record<string, unknown>): number | null {
  for (const key of ["revenue", "total"]) {
    const v = properties[key];
    if (typeof v === "number" && Number.isFinite(v)) return v;
  }
  const products = properties.products;
  if (!Array.isArray(products)) return null;
  let sum = 0;
  let priced = false;
  for (const p of products) {
    if (typeof p !== "object" || p === null) continue;
    const { price, quantity } = p as { price?: unknown; quantity?: unknown };
    if (typeof price !== "number" || !Number.isFinite(price)) continue;
    priced = true;
    sum += price * (typeof quantity === "number" && Number.isFinite(quantity) && quantity > 0 ? quantity : 1);
  }
  return priced ? sum : null;
}

/** What a merge call shows: a strategy's picks, the merchandiser's list, or (a holdout) nothing. */
export type ContentStrategy = "personalized" | "trending" | "static" | "none";

/**
 * The recommendations a variant renders. `personalized` is the ranking every
 * merge call uses (a cold person gets its trending fallback, as outside an
 * experiment); `trending` ignores the person; `static` shows the variant's
 * products in their order, skipping any no longer in stock or in the catalog;
 * `none` shows nothing.
 */
export function variantRecommendations(
  variant: Pick<ExperimentVariant, "strategy" | "productIds">,
  index: CatalogIndex,
  signals: PersonalSignals | null,
  limit: number,
): { items: Recommendation[]; strategy: ContentStrategy } {
  switch (variant.strategy) {
    case "personalized":
      return recommend(index, signals, limit);
    case "trending":
      return recommend(index, null, limit);
    case "static": {
      const items: Recommendation[] = [];
      for (const id of variant.productIds ?? []) {
        const product = index.byId.get(id);
        if (product?.inStock) items.push({ product, score: 0, reason: "Chosen for this campaign" });
        if (items.length >= limit) break;
      }
      return { items, strategy: "static" };
    }
    case "none":
      return { items: [], strategy: "none" };
  }
}
