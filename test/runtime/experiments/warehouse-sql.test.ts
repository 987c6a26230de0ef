/**
 * The results from the warehouse alone: the SQL that docs/warehouse.md gives
 * a data engineer returns the API's numbers, a warehouse whose recipients
 * split 70/30 against 50/50 weights is flagged as a sample-ratio mismatch,
 * and exposure facts the Queue delivers twice or out of order count once.
 * The exposure facts are planted straight into D1 (as the sink would have
 * written them), so the split and the edge cases are exactly the ones asked
 * for: merged visitors, outcomes after the experiment stopped.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import warehouseDoc from "../../../docs/warehouse.md?raw";
import worker from "../../../src/index";
import type { ChangeMessage, ChangeRecord } from "../../../src/model/changes";
import type { ExperimentResults } from "../../../src/model/experiment-results";
import { normalTwoSided } from "../../../src/model/experiment-stats";
import { CHANGES_QUEUE } from "../../../src/sink/consumer";
import { uid } from "../helpers";
import { createExperiment, results, stopExperiment, variantOf } from "./helpers";

const DAY = 86_400_000;

/** The SQL blocks of the doc's Experiments section, in order. */
function documentedQueries(): string[] {
  const section = warehouseDoc.split("\n## Experiments\n")[1]?.split("\n## ")[0] ?? "";
  const blocks = [...section.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");
  if (blocks.length !== 2)
    throw new Error(`expected two SQL blocks in the Experiments section, found ${blocks.length}`);
  return blocks;
}

/** A documented query for one experiment: the reader sets the id on its first line, as the doc says. */
async function runDocumented<T>(query: string, id: string): Promise<T[]> {
  const placeholder = "'spring-recs'";
  if (!query.includes(placeholder)) throw new Error("the documented query no longer names 'spring-recs'");
  const { results: rows } = await env.WAREHOUSE.prepare(query.replace(placeholder, `'${id}'`)).all<T>();
  return rows;
}

/**
 * Plants `count` exposure facts for one experiment. `variant`, `outcomes` and
 * `merged` are SQL expressions of the row number `i`; an outcome is written
 * `delay` ms after exposure (null when its expression is false).
 */
async function plantExposures(
  id: string,
  count: number,
  rows: { exposedAt: number; variant: string; opened?: string; clicked?: string; converted?: string; merged?: string },
  delay = 60_000,
) {
  const stmt = `WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < ?2 - 1)
    INSERT INTO experiment_exposures (experiment_id, profile_id, variant, exposed_at, opened_at, clicked_at,
      converted_at, conversion_message_id, revenue, merged_into, revision, updated_at)
    SELECT ?1, 'user_id:' || ?1 || '-' || i, ${rows.variant}, ?3 + i,
      CASE WHEN ${rows.opened ?? "0"} THEN ?3 + i + ?4 END,
      CASE WHEN ${rows.clicked ?? "0"} THEN ?3 + i + ?4 END,
      CASE WHEN ${rows.converted ?? "0"} THEN ?3 + i + 2 * ?4 END,
      CASE WHEN ${rows.converted ?? "0"} THEN 'order-' || i END,
      CASE WHEN ${rows.converted ?? "0"} THEN 20 + (i % 5) * 10.5 ELSE 0 END,
      CASE WHEN ${rows.merged ?? "0"} THEN 'user_id:someone-' || i END,
      1, ?3
    FROM seq`;
  await env.WAREHOUSE.prepare(stmt).bind(id, count, rows.exposedAt, delay).run();
}

/** The experiment the issue is about: the merchandiser's list (the control) against personalized picks, 50/50. */
function staticAgainstPersonalized(id: string) {
  return createExperiment({
    id,
    control: "static",
    variants: [
      { key: "static", weight: 1, strategy: "static", productIds: ["p-1"] },
      { key: "personalized", weight: 1, strategy: "personalized" },
    ],
  });
}

interface DocumentedVariant {
  variant: string;
  recipients: number;
  openers: number;
  clickers: number;
  conversions: number;
  revenue: number;
  open_rate: number;
  click_rate: number;
  conversion_rate: number;
  revenue_per_recipient: number;
}

interface DocumentedLift {
  variant: string;
  control_rate: number;
  rate: number;
  absolute_lift: number;
  relative_lift: number | null;
  z: number;
  ci95_low: number;
  ci95_high: number;
}

async function expectDocumentedEqualsApi(id: string, api: ExperimentResults) {
  const [perVariant = "", lifts = ""] = documentedQueries();
  const rows = await runDocumented<DocumentedVariant>(perVariant, id);
  expect(rows.map((r) => r.variant).sort()).toEqual(api.variants.map((v) => v.key).sort());
  for (const row of rows) {
    const v = variantOf(api, row.variant);
    expect(row).toMatchObject({
      recipients: v.recipients,
      openers: v.openers,
      clickers: v.clickers,
      conversions: v.conversions,
    });
    expect(row.revenue).toBeCloseTo(v.revenue, 9);
    expect(row.open_rate).toBeCloseTo(v.openRate ?? Number.NaN, 12);
    expect(row.click_rate).toBeCloseTo(v.clickRate ?? Number.NaN, 12);
    expect(row.conversion_rate).toBeCloseTo(v.conversionRate ?? Number.NaN, 12);
    expect(row.revenue_per_recipient).toBeCloseTo(v.revenuePerRecipient ?? Number.NaN, 9);
  }
  const compared = await runDocumented<DocumentedLift>(lifts, id);
  const apiClicks = api.comparisons.filter((c) => c.metric === "clickRate");
  expect(compared.map((r) => r.variant).sort()).toEqual(apiClicks.map((c) => c.variant).sort());
  for (const row of compared) {
    const c = apiClicks.find((x) => x.variant === row.variant);
    expect(row.control_rate).toBeCloseTo(c?.control ?? Number.NaN, 12);
    expect(row.rate).toBeCloseTo(c?.value ?? Number.NaN, 12);
    expect(row.absolute_lift).toBeCloseTo(c?.absoluteLift ?? Number.NaN, 12);
    expect(row.relative_lift).toBeCloseTo(c?.relativeLift ?? Number.NaN, 12);
    expect(row.ci95_low).toBeCloseTo(c?.ci95[0] ?? Number.NaN, 6);
    expect(row.ci95_high).toBeCloseTo(c?.ci95[1] ?? Number.NaN, 6);
    expect(normalTwoSided(row.z)).toBeCloseTo(c?.pValue ?? Number.NaN, 12);
  }
}

describe("the warehouse SQL in docs/warehouse.md", () => {
  it("gives the API's counts, rates and click-rate comparisons, counting merged visitors once and nothing after the stop", async () => {
    const id = uid("sql").slice(0, 40);
    await createExperiment({
      id,
      control: "static",
      variants: [
        { key: "static", weight: 2, strategy: "static", productIds: ["p-1"] },
        { key: "personalized", weight: 2, strategy: "personalized" },
        { key: "holdout", weight: 1, strategy: "none" },
      ],
    });
    await plantExposures(id, 1_500, {
      exposedAt: Date.now() - 3 * DAY,
      variant: "CASE WHEN i % 5 < 2 THEN 'static' WHEN i % 5 < 4 THEN 'personalized' ELSE 'holdout' END",
      opened: "i % 3 = 0 AND i % 5 <> 4",
      clicked: "(i % 5 < 2 AND i % 31 = 0) OR (i % 5 BETWEEN 2 AND 3 AND i % 17 = 0)",
      converted: "i % 23 = 0",
      merged: "i % 41 = 0",
    });
    const running = await results(id);
    // The same rules, counted here row by row: neither the API's SQL nor the doc's.
    const expected = new Map<
      string,
      { recipients: number; openers: number; clickers: number; conversions: number; revenue: number }
    >();
    for (let i = 0; i < 1_500; i++) {
      if (i % 41 === 0) continue; // merged into another person: counted under them
      const key = i % 5 < 2 ? "static" : i % 5 < 4 ? "personalized" : "holdout";
      const v = expected.get(key) ?? { recipients: 0, openers: 0, clickers: 0, conversions: 0, revenue: 0 };
      expected.set(key, v);
      v.recipients += 1;
      if (i % 3 === 0 && i % 5 !== 4) v.openers += 1;
      if ((i % 5 < 2 && i % 31 === 0) || (i % 5 >= 2 && i % 5 <= 3 && i % 17 === 0)) v.clickers += 1;
      if (i % 23 === 0) {
        v.conversions += 1;
        v.revenue += 20 + (i % 5) * 10.5;
      }
    }
    for (const [key, v] of expected) {
      const { revenue, ...counts } = v;
      expect(variantOf(running, key)).toMatchObject(counts);
      expect(variantOf(running, key).revenue).toBeCloseTo(revenue, 9);
    }
    expect(variantOf(running, "holdout").clickers).toBe(0);
    await expectDocumentedEqualsApi(id, running);

    // After the stop, nothing that happens later counts, in the API or in the SQL.
    const stop = await stopExperiment(id);
    expect(stop.status).toBe(200);
    const stoppedAt = Date.parse(((await stop.json()) as { stoppedAt: string }).stoppedAt);
    const frozen = await results(id);
    expect(frozen.asOf).toBe(new Date(stoppedAt).toISOString());
    // Late clicks (a reader opening the e-mail after the stop), and a late recipient.
    await env.WAREHOUSE.prepare(
      "UPDATE experiment_exposures SET clicked_at = ?2, opened_at = COALESCE(opened_at, ?2) WHERE experiment_id = ?1 AND clicked_at IS NULL",
    )
      .bind(id, stoppedAt + 1)
      .run();
    await plantExposures(`${id}-late`, 1, { exposedAt: stoppedAt + 1, variant: "'static'" });
    await env.WAREHOUSE.prepare("UPDATE experiment_exposures SET experiment_id = ?1 WHERE experiment_id = ?2")
      .bind(id, `${id}-late`)
      .run();
    const after = await results(id);
    expect(after.variants).toEqual(frozen.variants);
    await expectDocumentedEqualsApi(id, after);
  });
});

describe("sample-ratio mismatch", () => {
  it("a 70/30 split of recipients against 50/50 weights is flagged (SciPy chisquare: p = 1.13e-36)", async () => {
    const id = uid("srm").slice(0, 40);
    await staticAgainstPersonalized(id);
    await plantExposures(id, 1_000, {
      exposedAt: Date.now() - DAY,
      variant: "CASE WHEN i < 700 THEN 'static' ELSE 'personalized' END",
      clicked: "i % 20 = 0",
    });
    const broken = await results(id);
    expect(broken.variants.map((v) => v.recipients)).toEqual([700, 300]);
    // SciPy 1.17.1: scipy.stats.chisquare([700, 300], [500, 500]).pvalue
    expect(broken.srm.pValue).toBeCloseTo(1.1314837902433038e-36, 45);
    expect(broken.srm.mismatch).toBe(true);
    expect(broken.enoughData).toBe(true);
  });
});

type QueueMessageInput = Parameters<typeof createMessageBatch>[1][number];

describe("exposure facts redelivered by the Queue", () => {
  /** One Queue message carrying `records`, as an actor's outbox run would. */
  function run(records: ChangeRecord[], seq: number): QueueMessageInput {
    const body: ChangeMessage = { v: 1, actor: "user:redelivery", firstSeq: seq, lastSeq: seq, records };
    return { id: `msg-${crypto.randomUUID()}`, timestamp: new Date(), attempts: 1, body: JSON.stringify(body) };
  }

  async function deliver(messages: QueueMessageInput[]) {
    const batch = createMessageBatch(CHANGES_QUEUE, messages);
    const ctx = createExecutionContext();
    await worker.queue(batch as MessageBatch<unknown>, env);
    return getQueueResult(batch, ctx);
  }

  it("count each person once, and a late, older record never takes a click back", async () => {
    const id = uid("redeliver").slice(0, 40);
    await staticAgainstPersonalized(id);
    const exposedAt = Date.now() - DAY;
    const base: Extract<ChangeRecord, { kind: "experiment" }>["membership"] = {
      experimentId: id,
      variant: "personalized",
      exposedAt,
      openedAt: null,
      clickedAt: null,
      convertedAt: null,
      conversionMessageId: null,
      revenue: 0,
    };
    const record = (
      revision: number,
      membership: Partial<Extract<ChangeRecord, { kind: "experiment" }>["membership"]>,
    ): ChangeRecord => ({
      kind: "experiment",
      profileId: "user_id:redelivered",
      version: revision,
      at: exposedAt,
      membership: { ...base, ...membership },
      mergedInto: null,
    });
    const exposed = record(1, {});
    const clicked = record(2, { openedAt: exposedAt + 60_000, clickedAt: exposedAt + 60_000 });
    // The click arrives first, then the exposure it followed (a retried run), then the click again.
    await deliver([run([clicked], 2)]);
    await deliver([run([exposed], 1)]);
    await deliver([run([clicked], 2), run([exposed], 1)]);
    const r = await results(id);
    expect(variantOf(r, "personalized")).toMatchObject({ recipients: 1, openers: 1, clickers: 1 });
    expect(variantOf(r, "static").recipients).toBe(0);
  });
});
