/** Helpers for the experiment tests: defining one, merge calls inside it, and reading results once the sink caught up. */
import { expect } from "vitest";
import { type ExperimentResults, experimentResultsResponse } from "../../../src/model/experiment-results";
import { experimentResponse } from "../../../src/model/experiments";
import { API_KEY, call, eventually, handle, readJson } from "../helpers";

export interface MergeInExperiment {
  profile: { id: string; known: boolean };
  recommendations: { productId: string; clickUrl: string }[];
  recommendation_block: string;
  open_pixel_url: string | null;
  strategy: string;
  experiment?: { id: string; variant: string; status: string };
}

export function postExperiment(body: unknown, key = API_KEY): Promise<Response> {
  return call("/v1/experiments", {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** Creates an experiment, checking the answer against the shape /openapi.json publishes. */
export async function createExperiment(body: Record<string, unknown>) {
  const res = await postExperiment(body);
  const json: unknown = await res.json();
  expect(res.status, JSON.stringify(json)).toBe(201);
  return experimentResponse.strict().parse(json);
}

/** An experiment whose variants all show the trending picks, equally weighted: for tests of assignment and counting, not of content. */
export function sameContentExperiment(id: string, keys: string[] = ["a", "b"], extra: Record<string, unknown> = {}) {
  return createExperiment({
    id,
    control: keys[0],
    variants: keys.map((key) => ({ key, weight: 1, strategy: "trending" })),
    ...extra,
  });
}

export function stopExperiment(id: string): Promise<Response> {
  return call(`/v1/experiments/${id}/stop`, { method: "POST", headers: { authorization: `Bearer ${API_KEY}` } });
}

/** A merge call as the ESP makes it, straight to the fetch handler (thousands of them stay fast). */
export async function mergeFor(profileId: string, query: string): Promise<MergeInExperiment> {
  const res = await handle(`/v1/merge/${encodeURIComponent(profileId)}?${query}`, {
    headers: { authorization: `Bearer ${API_KEY}` },
  });
  const body = (await res.json()) as MergeInExperiment;
  if (res.status !== 200) throw new Error(`merge answered ${res.status}: ${JSON.stringify(body)}`);
  return body;
}

/** Follows a sealed link as a reader's mail client or browser would. */
export function follow(url: string): Promise<Response> {
  return handle(new URL(url).pathname, {
    redirect: "manual",
    headers: {
      "user-agent":
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    },
  });
}

/** An experiment's results, checked against the shape /openapi.json publishes. */
export async function results(id: string): Promise<ExperimentResults> {
  return experimentResultsResponse.strict().parse(await readJson(`/v1/experiments/${id}/results`));
}

/** The results once the warehouse holds what `ready` waits for (the sink is asynchronous). */
export async function resultsWhen(
  id: string,
  ready: (r: ExperimentResults) => boolean,
  what: string,
  timeoutMs = 30_000,
): Promise<ExperimentResults> {
  let last: ExperimentResults | null = null;
  try {
    await eventually(
      async () => {
        last = await results(id);
        return ready(last);
      },
      what,
      timeoutMs,
    );
  } catch (err) {
    throw new Error(`${String(err)}; last results: ${JSON.stringify(last)}`);
  }
  if (!last) throw new Error("no results read");
  return last;
}

export function variantOf(r: ExperimentResults, key: string) {
  const v = r.variants.find((x) => x.key === key);
  if (!v) throw new Error(`no variant ${key} in ${JSON.stringify(r.variants)}`);
  return v;
}

export const totalRecipients = (r: ExperimentResults) => r.variants.reduce((n, v) => n + v.recipients, 0);
