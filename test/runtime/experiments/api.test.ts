/**
 * Experiments through the public API, in the runtime: defining them, what a
 * merge call inside one renders, sticky assignment, and the results the
 * warehouse gives back — each person counted once, whatever is retried.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  API_KEY,
  BROWSER_KEY,
  basic,
  call,
  eventually,
  productFixture,
  putCatalog,
  read,
  readJson,
  sendBatch,
  uid,
} from "../helpers";
import {
  createExperiment,
  follow,
  mergeFor,
  postExperiment,
  resultsWhen,
  sameContentExperiment,
  stopExperiment,
  totalRecipients,
  variantOf,
} from "./helpers";

const experimentId = () => uid("x").slice(0, 40);

/** The experiment's rows in the warehouse's exposure facts that meet `condition` (a fixed SQL text). */
async function exposureRows(id: string, condition: string): Promise<number> {
  const row = await env.WAREHOUSE.prepare(
    `SELECT COUNT(*) AS n FROM experiment_exposures WHERE experiment_id = ? AND ${condition}`,
  )
    .bind(id)
    .first<{ n: number }>();
  return row?.n ?? -1;
}

/** Four products in a category of their own, so what a variant shows is recognisable. */
async function catalog() {
  const tag = uid("c").slice(0, 12);
  const products = Array.from({ length: 4 }, (_, i) => productFixture(`${tag}-${i}`, { categories: [`Cat ${tag}`] }));
  expect((await putCatalog(products)).status).toBe(200);
  return products.map((p) => p.id);
}

function twoWay(id: string, extra: Record<string, unknown> = {}, productIds: string[] = ["p-1"]) {
  return {
    id,
    control: "static",
    variants: [
      { key: "static", weight: 1, strategy: "static", productIds },
      { key: "personalized", weight: 1, strategy: "personalized" },
    ],
    ...extra,
  };
}

describe("defining an experiment", () => {
  it("answers 201 with the experiment running and its defaults filled in", async () => {
    const id = experimentId();
    const created = await createExperiment(twoWay(id, { name: "Winter block" }));
    expect(created).toMatchObject({
      id,
      name: "Winter block",
      status: "running",
      control: "static",
      conversionEvent: "Order Completed",
      attributionWindowDays: 7,
    });
    expect(created).not.toHaveProperty("salt");
    expect(await readJson(`/v1/experiments/${id}`)).toEqual(created);
    const list = await readJson<{ items: { id: string }[] }>("/v1/experiments");
    expect(list.items.map((e) => e.id)).toContain(id);
  });

  it("answers 400 naming the field that is wrong", async () => {
    const cases: [unknown, string][] = [
      [{ ...twoWay("Bad Id") }, "id"],
      [{ ...twoWay(experimentId()), control: "nope" }, "control"],
      [
        {
          id: experimentId(),
          control: "a",
          variants: [
            { key: "a", weight: 1, strategy: "personalized" },
            { key: "b", weight: 1, strategy: "static" },
          ],
        },
        "variants.1.productIds",
      ],
      [
        {
          id: experimentId(),
          control: "a",
          variants: [
            { key: "a", weight: 0, strategy: "personalized" },
            { key: "b", weight: 1, strategy: "none" },
          ],
        },
        "variants.0.weight",
      ],
      [{ id: experimentId(), control: "a", variants: [{ key: "a", weight: 1, strategy: "none" }] }, "variants"],
      [{ ...twoWay(experimentId()), attributionWindowDays: 400 }, "attributionWindowDays"],
    ];
    for (const [body, field] of cases) {
      const res = await postExperiment(body);
      expect(res.status, field).toBe(400);
      const error = ((await res.json()) as { error: { code: string; message: string; details: { fields: string[] } } })
        .error;
      expect(error.code).toBe("invalid_experiment");
      expect(error.details.fields, error.message).toContain(field);
      expect(error.message).toContain(field);
    }
  });

  it("refuses a reused id, a campaign another running experiment holds, and callers without the API key", async () => {
    const id = experimentId();
    const campaign = uid("camp");
    await createExperiment(twoWay(id, { campaign }));
    expect((await postExperiment(twoWay(id))).status).toBe(409);
    const taken = await postExperiment(twoWay(experimentId(), { campaign }));
    expect(taken.status).toBe(409);
    expect(((await taken.json()) as { error: { message: string } }).error.message).toContain(id);
    expect((await postExperiment(twoWay(experimentId()), "not-a-key")).status).toBe(401);
    expect((await read(`/v1/experiments/${id}/results`, "not-a-key")).status).toBe(401);
    expect((await read("/v1/experiments/no-such-experiment")).status).toBe(404);
    // Once it stops, the campaign is free for the next experiment.
    expect((await stopExperiment(id)).status).toBe(200);
    await createExperiment(twoWay(experimentId(), { campaign }));
  });
});

describe("a merge call inside an experiment", () => {
  it("renders the assigned variant's content, and the same variant on every call for that person", async () => {
    const products = await catalog();
    const id = experimentId();
    await createExperiment({
      id,
      control: "static",
      variants: [
        { key: "static", weight: 1, strategy: "static", productIds: [products[2], products[0]] },
        { key: "holdout", weight: 1, strategy: "none" },
      ],
    });
    const seen = { static: 0, holdout: 0 };
    for (let i = 0; i < 40; i++) {
      const person = `user_id:${uid("p")}`;
      const first = await mergeFor(person, `experiment=${id}&limit=3`);
      const variant = first.experiment?.variant as keyof typeof seen;
      expect(first.experiment).toEqual({ id, variant, status: "running" });
      seen[variant] += 1;
      // HTML, plain text, AMP and a preview: the same variant each time.
      for (let call = 0; call < 3; call++)
        expect((await mergeFor(person, `experiment=${id}`)).experiment?.variant).toBe(variant);
      if (variant === "static") {
        expect(first.strategy).toBe("static");
        expect(first.recommendations.map((r) => r.productId)).toEqual([products[2], products[0]]);
      } else {
        // A holdout gets no block, only the open pixel, so its opens are counted like everyone's.
        expect(first.strategy).toBe("none");
        expect(first.recommendations).toEqual([]);
        expect(first.recommendation_block).toMatch(/^<img src="[^"]+\/o\/[^"]+"[^>]*>$/);
      }
    }
    expect(seen.static).toBeGreaterThan(5);
    expect(seen.holdout).toBeGreaterThan(5);
    const r = await resultsWhen(id, (x) => totalRecipients(x) === 40, "40 recipients in the warehouse");
    expect(variantOf(r, "static").recipients).toBe(seen.static);
    expect(variantOf(r, "holdout").recipients).toBe(seen.holdout);
  });

  it("honours the weights", async () => {
    const id = experimentId();
    await createExperiment({
      id,
      control: "a",
      variants: [
        { key: "a", weight: 4, strategy: "trending" },
        { key: "b", weight: 1, strategy: "personalized" },
      ],
    });
    let a = 0;
    const n = 200;
    for (let i = 0; i < n; i++) {
      if ((await mergeFor(`user_id:${uid("w")}`, `experiment=${id}`)).experiment?.variant === "a") a += 1;
    }
    // Binomial(200, 0.8): mean 160, sd 5.7; 4.5 sd either side fails about once in 150,000 runs.
    expect(Math.abs(a - 160)).toBeLessThan(26);
  });

  it("joins the experiment tied to the merge call's campaign, and seals experiment and variant into its links", async () => {
    const products = await catalog();
    const id = experimentId();
    const campaign = uid("spring");
    await createExperiment({
      id,
      campaign,
      control: "static",
      variants: [
        { key: "static", weight: 1, strategy: "static", productIds: products },
        { key: "trending", weight: 1, strategy: "trending" },
      ],
    });
    const userId = uid("reader");
    const merge = await mergeFor(`user_id:${userId}`, `campaign=${campaign}&limit=2`);
    const variant = merge.experiment?.variant;
    expect(merge.experiment?.id).toBe(id);
    const click = merge.recommendations[0]?.clickUrl ?? "";
    expect((await follow(click)).status).toBe(302);
    const { events } = await readJson<{ events: { name: string; properties: Record<string, unknown> }[] }>(
      `/v1/profiles/user_id:${userId}/events?limit=10`,
    );
    const clicked = events.find((e) => e.name === "Email Link Clicked");
    expect(clicked?.properties).toMatchObject({ experiment: id, variant, campaign });
    // A campaign nobody tied to an experiment renders as before, with no experiment.
    expect((await mergeFor(`user_id:${userId}`, `campaign=${uid("plain")}`)).experiment).toBeUndefined();
  });

  it("answers 404 for an experiment that does not exist, so a preview shows the mistake", async () => {
    const res = await read(`/v1/merge/user_id:${uid()}?experiment=no-such-thing`, API_KEY);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("unknown_experiment");
  });
});

describe("attribution", () => {
  async function oneRecipient() {
    const id = experimentId();
    await sameContentExperiment(id, ["a", "b"], { conversionEvent: "Order Completed", attributionWindowDays: 2 });
    const userId = uid("buyer");
    await sendBatch([{ type: "identify", userId, traits: { email: `${userId}@example.com` } }]);
    const merge = await mergeFor(`user_id:${userId}`, `experiment=${id}&limit=2`);
    return { id, userId, merge, variant: merge.experiment?.variant ?? "" };
  }

  it("counts each person's open, click and conversion once, however often they repeat or are retried", async () => {
    const { id, userId, merge, variant } = await oneRecipient();
    const again = await mergeFor(`user_id:${userId}`, `experiment=${id}&limit=2`);
    for (const url of [merge.open_pixel_url, again.open_pixel_url, merge.open_pixel_url]) await follow(url ?? "");
    for (let i = 0; i < 3; i++) await follow(merge.recommendations[0]?.clickUrl ?? "");
    const order = {
      type: "track",
      userId,
      messageId: uid("order"),
      event: "Order Completed",
      properties: { products: [{ product_id: "x", price: 30, quantity: 2 }, { price: 15 }] },
    };
    await sendBatch([order]);
    await sendBatch([order]); // the SDK's retry
    await sendBatch([{ ...order, messageId: uid("order2"), properties: { revenue: 999 } }]); // a second order
    const r = await resultsWhen(id, (x) => variantOf(x, variant).conversions === 1, "the conversion in the warehouse");
    expect(variantOf(r, variant)).toMatchObject({
      recipients: 1,
      openers: 1,
      clickers: 1,
      conversions: 1,
      revenue: 75,
    });
    expect(totalRecipients(r)).toBe(1);
  });

  it("counts no conversion from before first exposure, nor any other event", async () => {
    const { id, userId, variant } = await oneRecipient();
    await sendBatch([
      // Ordered an hour before the e-mail was rendered: not the e-mail's doing. (The window's far end is
      // checked with an injected clock in test/unit/experiment-attribution.test.ts.)
      {
        type: "track",
        userId,
        event: "Order Completed",
        timestamp: new Date(Date.now() - 3_600_000).toISOString(),
        properties: { revenue: 10 },
      },
      { type: "track", userId, event: "Product Added", properties: { price: 5 } },
    ]);
    await sendBatch([{ type: "track", userId, event: "Order Completed", properties: { total: 40 } }]);
    const r = await resultsWhen(id, (x) => variantOf(x, variant).conversions === 1, "the conversion in the warehouse");
    expect(variantOf(r, variant).revenue).toBe(40);
  });

  it("ignores an open or click someone makes up with the public write key", async () => {
    const { id, userId, variant } = await oneRecipient();
    const forged = (event: string) => ({
      type: "track",
      userId,
      event,
      properties: { experiment: id, variant, campaign: null },
    });
    const res = await call("/v1/batch", {
      method: "POST",
      headers: { authorization: basic(BROWSER_KEY), "content-type": "application/json" },
      body: JSON.stringify({ batch: [forged("Email Opened"), forged("Email Link Clicked")] }),
    });
    expect(res.status).toBe(200);
    await sendBatch([forged("Email Link Clicked")]); // a server key is not a sealed link either
    // A conversion after them shows the records before it reached the warehouse.
    await sendBatch([{ type: "track", userId, event: "Order Completed", properties: { revenue: 1 } }]);
    const r = await resultsWhen(id, (x) => variantOf(x, variant).conversions === 1, "the conversion in the warehouse");
    expect(variantOf(r, variant)).toMatchObject({ openers: 0, clickers: 0 });
  });

  it("ignores an order sent with the public browser key and no identity verification", async () => {
    const { id, userId, variant } = await oneRecipient();
    const res = await call("/v1/batch", {
      method: "POST",
      headers: { authorization: basic(BROWSER_KEY), "content-type": "application/json" },
      body: JSON.stringify({
        batch: [{ type: "track", userId, event: "Order Completed", properties: { revenue: 1_000_000 } }],
      }),
    });
    expect(res.status).toBe(200);
    // The shop's server reports the real order; it is the one that counts.
    await sendBatch([{ type: "track", userId, event: "Order Completed", properties: { revenue: 25 } }]);
    const r = await resultsWhen(id, (x) => variantOf(x, variant).conversions === 1, "the conversion in the warehouse");
    expect(variantOf(r, variant).revenue).toBe(25);
  });
});

describe("a merge key in the URL (format=html)", () => {
  it("shows the variant to anyone but records only people the service already holds", async () => {
    const id = experimentId();
    await sameContentExperiment(id);
    const viaUrlKey = (profileId: string) =>
      call(`/v1/merge/${profileId}?format=html&experiment=${id}&key=test-merge-key`);
    // Made-up people: a block each, and no recipient.
    for (let i = 0; i < 5; i++) expect((await viaUrlKey(`anonymous_id:${uid("made-up")}`)).status).toBe(200);
    // A person the shop has sent events for is a recipient.
    const userId = uid("held");
    await sendBatch([{ type: "identify", userId, traits: { email: `${userId}@example.com` } }]);
    expect((await viaUrlKey(`user_id:${userId}`)).status).toBe(200);
    const r = await resultsWhen(id, (x) => totalRecipients(x) >= 1, "the held person's exposure");
    expect(totalRecipients(r)).toBe(1);
    expect(await exposureRows(id, "1 = 1")).toBe(1);
  });
});

describe("assignment across an anonymous → known merge", () => {
  it("keeps the visitor's variant and counts the person once", async () => {
    const id = experimentId();
    await sameContentExperiment(id, ["a", "b", "c"]);
    let checked = 0;
    for (let i = 0; i < 12; i++) {
      const anonymousId = uid("visitor");
      const userId = uid("known");
      // A visitor exposed while anonymous (a browse-abandonment e-mail to a known cookie) ...
      await sendBatch([{ type: "page", anonymousId, name: "Home" }]);
      const asVisitor = (await mergeFor(`anonymous_id:${anonymousId}`, `experiment=${id}`)).experiment?.variant;
      // ... signs up: identify links the visitor to the user.
      await sendBatch([{ type: "identify", userId, anonymousId, traits: { email: `${userId}@example.com` } }]);
      const asUser = (await mergeFor(`user_id:${userId}`, `experiment=${id}`)).experiment?.variant;
      expect(asUser).toBe(asVisitor);
      checked += 1;
    }
    // Each visitor's row is marked merged once its merge reaches the warehouse; until then it is the recipient.
    await eventually(
      async () => (await exposureRows(id, "merged_into IS NOT NULL")) === checked,
      `${checked} visitors' rows marked merged`,
    );
    const r = await resultsWhen(id, (x) => totalRecipients(x) === checked, `${checked} recipients`);
    expect(totalRecipients(r)).toBe(checked);
    expect(await exposureRows(id, "merged_into IS NOT NULL")).toBe(checked);
  });
});

describe("stopping an experiment", () => {
  it("freezes the results and sends everyone to the control", async () => {
    const id = experimentId();
    await createExperiment({
      id,
      control: "a",
      variants: [
        { key: "a", weight: 1, strategy: "trending" },
        { key: "b", weight: 1, strategy: "none" },
      ],
    });
    const before = Array.from({ length: 10 }, () => `user_id:${uid("s")}`);
    const merges = [];
    for (const p of before) merges.push(await mergeFor(p, `experiment=${id}`));
    const frozen = await resultsWhen(id, (x) => totalRecipients(x) === 10, "10 recipients");
    const start = () =>
      call(`/v1/experiments/${id}/start`, { method: "POST", headers: { authorization: `Bearer ${API_KEY}` } });
    // Running from its creation: starting it again changes nothing.
    expect(await (await start()).json()).toMatchObject({ id, status: "running", stoppedAt: null });
    const stopped = (await (await stopExperiment(id)).json()) as { status: string; stoppedAt: string };
    expect(stopped.status).toBe("stopped");
    // A stopped experiment stays stopped: restarting would mix two tests under one id.
    const restart = await start();
    expect(restart.status).toBe(409);
    expect(((await restart.json()) as { error: { code: string } }).error.code).toBe("experiment_stopped");
    // After the stop: new people get the control and are not counted, and old links count nothing.
    for (let i = 0; i < 5; i++) {
      const m = await mergeFor(`user_id:${uid("late")}`, `experiment=${id}`);
      expect(m.experiment).toEqual({ id, variant: "a", status: "stopped" });
    }
    for (const m of merges) if (m.open_pixel_url) await follow(m.open_pixel_url);
    // The opens reach the warehouse (each person's row shows when they opened) ...
    await eventually(
      async () => (await exposureRows(id, "opened_at IS NOT NULL")) === 10,
      "the late opens in the warehouse",
    );
    // ... and the results, read up to the stop, do not move.
    const after = await resultsWhen(id, (x) => x.status === "stopped", "stopped results");
    expect(after.variants.map((v) => [v.key, v.recipients, v.openers])).toEqual(
      frozen.variants.map((v) => [v.key, v.recipients, 0]),
    );
  });
});
