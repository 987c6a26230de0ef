/**
 * An experiment's results (DESIGN §7) from per-variant totals: the rates per
 * recipient, each variant against the control on click rate, conversion rate
 * and revenue per recipient (model/experiment-stats.ts), the sample-ratio
 * check of recipients against the weights, and whether there is enough data
 * to read any of it yet.
 */
import { z } from "zod";
import { compareMeans, compareProportions, sampleRatioMismatch } from "./experiment-stats";

/** What the warehouse counts for one variant: unique people, and revenue with its sum of squares. */
export interface VariantTotals {
  key: string;
  recipients: number;
  openers: number;
  clickers: number;
  conversions: number;
  revenue: number;
  revenueSquares: number;
}

/** A variant nobody has been exposed to yet. */
export function noTotals(key: string): VariantTotals {
  return { key, recipients: 0, openers: 0, clickers: 0, conversions: 0, revenue: 0, revenueSquares: 0 };
}

/** Recipients every variant needs before its comparisons are worth reading (DESIGN §7). */
export const ENOUGH_RECIPIENTS = 100;

export const COMPARED_METRICS = ["clickRate", "conversionRate", "revenuePerRecipient"] as const;

const variantResult = z.object({
  key: z.string(),
  strategy: z.string(),
  weight: z.number(),
  recipients: z.number().int(),
  openers: z.number().int(),
  clickers: z.number().int(),
  conversions: z.number().int(),
  revenue: z.number(),
  openRate: z.number().nullable(),
  clickRate: z.number().nullable(),
  conversionRate: z.number().nullable(),
  revenuePerRecipient: z.number().nullable(),
});

const comparison = z.object({
  variant: z.string(),
  metric: z.enum(COMPARED_METRICS),
  control: z.number(),
  value: z.number(),
  absoluteLift: z.number(),
  relativeLift: z.number().nullable().describe("null when the control's value is 0"),
  ci95: z.tuple([z.number(), z.number()]).describe("95% interval of the absolute lift"),
  pValue: z.number().describe("two-sided: two-proportion z-test for rates, Welch's t-test for revenue"),
  probabilityToBeatControl: z.number().describe("Beta-Binomial with a uniform prior (rates); normal (revenue)"),
  sequentialPValue: z.number().describe("always valid (mSPRT): safe to read after every peek"),
});

export const experimentResultsResponse = z.object({
  id: z.string(),
  status: z.enum(["running", "stopped"]),
  control: z.string(),
  /** Results count what happened up to this time: now, or when the experiment stopped. */
  asOf: z.string(),
  variants: z.array(variantResult),
  comparisons: z.array(comparison).describe("each variant against the control; absent while a side has no recipients"),
  srm: z.object({ pValue: z.number(), mismatch: z.boolean() }),
  enoughData: z.boolean().describe(`every variant has at least ${ENOUGH_RECIPIENTS} recipients`),
});
export type ExperimentResults = z.infer<typeof experimentResultsResponse>;

const rate = (x: number, n: number) => (n > 0 ? x / n : null);

export function experimentResults(
  experiment: {
    id: string;
    status: "running" | "stopped";
    control: string;
    variants: readonly { key: string; weight: number; strategy: string }[];
  },
  totals: readonly VariantTotals[],
  asOf: number,
): ExperimentResults {
  const byKey = new Map(totals.map((t) => [t.key, t]));
  const rows = experiment.variants.map((v) => {
    return { variant: v, totals: byKey.get(v.key) ?? noTotals(v.key) };
  });
  const control = rows.find((r) => r.variant.key === experiment.control);
  const comparisons: ExperimentResults["comparisons"] = [];
  for (const { variant, totals: t } of rows) {
    if (!control || variant.key === experiment.control) continue;
    const c = control.totals;
    const compared = {
      clickRate: compareProportions({ n: c.recipients, x: c.clickers }, { n: t.recipients, x: t.clickers }),
      conversionRate: compareProportions({ n: c.recipients, x: c.conversions }, { n: t.recipients, x: t.conversions }),
      revenuePerRecipient: compareMeans(
        { n: c.recipients, sum: c.revenue, sumOfSquares: c.revenueSquares },
        { n: t.recipients, sum: t.revenue, sumOfSquares: t.revenueSquares },
      ),
    };
    for (const metric of COMPARED_METRICS) {
      const result = compared[metric];
      if (result) comparisons.push({ variant: variant.key, metric, ...result });
    }
  }
  return {
    id: experiment.id,
    status: experiment.status,
    control: experiment.control,
    asOf: new Date(asOf).toISOString(),
    variants: rows.map(({ variant, totals: t }) => ({
      key: variant.key,
      strategy: variant.strategy,
      weight: variant.weight,
      recipients: t.recipients,
      openers: t.openers,
      clickers: t.clickers,
      conversions: t.conversions,
      revenue: t.revenue,
      openRate: rate(t.openers, t.recipients),
      clickRate: rate(t.clickers, t.recipients),
      conversionRate: rate(t.conversions, t.recipients),
      revenuePerRecipient: rate(t.revenue, t.recipients),
    })),
    comparisons,
    srm: sampleRatioMismatch(
      rows.map((r) => r.totals.recipients),
      rows.map((r) => r.variant.weight),
    ),
    enoughData: rows.every((r) => r.totals.recipients >= ENOUGH_RECIPIENTS),
  };
}
