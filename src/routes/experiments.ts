/**
 * Experiments API (DESIGN §7), secret API key: define an experiment (it
 * starts at once), list and read them, stop one (its results freeze and
 * everyone gets the control), and read its results — counted from the
 * warehouse's exposure facts, compared against the control with the
 * statistics of model/experiment-stats.ts.
 */
import { Hono } from "hono";
import { warehouseDb } from "../catalog/store";
import { invalidateExperiments } from "../experiments/cache";
import {
  createExperiment,
  experimentView,
  getExperiment,
  listExperiments,
  stopExperiment,
  variantTotals,
} from "../experiments/store";
import { experimentResults } from "../model/experiment-results";
import { EXPERIMENT_ID, experimentDefinition } from "../model/experiments";
import { findUnsafeKey } from "../model/validate";
import type { AppEnv } from "./app-env";
import { requireApiKey } from "./auth";
import { readJsonBody } from "./body";
import { ApiError, invalidBody } from "./errors";

export const experimentRoutes = new Hono<AppEnv>();
experimentRoutes.use("/v1/experiments", requireApiKey());
experimentRoutes.use("/v1/experiments/*", requireApiKey());

/** Ten variants of twenty product ids each, with room to spare. */
const MAX_DEFINITION_BYTES = 64 * 1024;

function experimentIdParam(raw: string | undefined): string {
  const id = raw ?? "";
  if (!EXPERIMENT_ID.test(id)) {
    throw new ApiError(400, "invalid_experiment_id", "an experiment id is 1–64 lower-case letters, digits or -");
  }
  return id;
}

async function experimentOr404(c: { env: AppEnv["Bindings"] }, id: string) {
  const experiment = await getExperiment(warehouseDb(c.env.WAREHOUSE), id);
  if (!experiment) throw new ApiError(404, "experiment_not_found", `no experiment "${id}"`);
  return experiment;
}

experimentRoutes.post("/v1/experiments", async (c) => {
  const body = await readJsonBody(c.req.raw, MAX_DEFINITION_BYTES, "experiment");
  const unsafe = findUnsafeKey(body);
  if (unsafe) throw new ApiError(400, "invalid_experiment", unsafe);
  const parsed = experimentDefinition.safeParse(body);
  if (!parsed.success) {
    throw invalidBody("invalid_experiment", parsed.error);
  }
  const outcome = await createExperiment(warehouseDb(c.env.WAREHOUSE), parsed.data, Date.now());
  if (!outcome.ok) {
    throw outcome.reason === "exists"
      ? new ApiError(
          409,
          "experiment_exists",
          `experiment "${parsed.data.id}" exists; ids are never reused — pick another`,
        )
      : new ApiError(
          409,
          "campaign_taken",
          `campaign "${parsed.data.campaign}" is tied to running experiment "${outcome.by}"; stop it first or choose another campaign`,
        );
  }
  invalidateExperiments();
  return c.json(experimentView(outcome.experiment), 201);
});

experimentRoutes.get("/v1/experiments", async (c) => {
  const list = await listExperiments(warehouseDb(c.env.WAREHOUSE));
  return c.json({ items: list.map(experimentView) });
});

experimentRoutes.get("/v1/experiments/:id", async (c) => {
  return c.json(experimentView(await experimentOr404(c, experimentIdParam(c.req.param("id")))));
});

experimentRoutes.post("/v1/experiments/:id/stop", async (c) => {
  const id = experimentIdParam(c.req.param("id"));
  const stopped = await stopExperiment(warehouseDb(c.env.WAREHOUSE), id, Date.now());
  if (!stopped) throw new ApiError(404, "experiment_not_found", `no experiment "${id}"`);
  invalidateExperiments();
  return c.json(experimentView(stopped));
});

/**
 * An experiment runs from the moment it is created, so starting one that runs
 * changes nothing. A stopped one stays stopped: its results are frozen at the
 * stop, and recipients served the control since then were never assigned —
 * running it again would mix two tests under one id.
 */
experimentRoutes.post("/v1/experiments/:id/start", async (c) => {
  const experiment = await experimentOr404(c, experimentIdParam(c.req.param("id")));
  if (experiment.status === "stopped") {
    throw new ApiError(
      409,
      "experiment_stopped",
      `experiment "${experiment.id}" stopped at ${new Date(experiment.stoppedAt ?? 0).toISOString()} and its results are frozen; create a new experiment (a new id) to test again`,
    );
  }
  return c.json(experimentView(experiment));
});

experimentRoutes.get("/v1/experiments/:id/results", async (c) => {
  const experiment = await experimentOr404(c, experimentIdParam(c.req.param("id")));
  const asOf = experiment.stoppedAt ?? Date.now();
  const totals = await variantTotals(warehouseDb(c.env.WAREHOUSE), experiment.id, asOf);
  c.header("cache-control", "no-store");
  return c.json(experimentResults(experiment, totals, asOf));
});
