/**
 * Data-quality API (DESIGN §9), secret API key: start a run of the quality
 * checks (`POST /v1/quality/runs` → 202, carried out by the quality Queue),
 * read one or the latest, and list the pairs of profiles that look like one
 * person (`GET /v1/quality/duplicates`), strongest first, with the evidence.
 */
import { Hono } from "hono";
import { findDuplicates } from "../model/duplicates";
import { duplicateCandidates } from "../quality/checks";
import { latestRun, listRuns, type QualityRun, readRun, startRun } from "../quality/runs";
import type { AppEnv } from "./app-env";
import { requireApiKey } from "./auth";
import { ApiError } from "./errors";
import { limitParam } from "./profiles";

export const qualityRoutes = new Hono<AppEnv>();
qualityRoutes.use("/v1/quality", requireApiKey());
qualityRoutes.use("/v1/quality/*", requireApiKey());

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function runView(run: QualityRun) {
  return {
    id: run.id,
    trigger: run.trigger,
    startedAt: iso(run.startedAt),
    finishedAt: iso(run.finishedAt),
    status: run.status,
    checks: run.checks,
    ...(run.error ? { error: run.error } : {}),
  };
}

qualityRoutes.post("/v1/quality/runs", async (c) => {
  const id = await startRun(c.env, "api");
  return c.json({ id, status: "running" }, 202, { location: `/v1/quality/runs/${id}` });
});

/** The newest runs first (an empty list before the first), for a page of their history. */
qualityRoutes.get("/v1/quality/runs", async (c) => {
  const limit = limitParam(c.req.query("limit"), 20, 100);
  return c.json({ items: (await listRuns(c.env, limit)).map(runView) });
});

qualityRoutes.get("/v1/quality/runs/:id", async (c) => {
  const run = await readRun(c.env, c.req.param("id"));
  if (!run) throw new ApiError(404, "quality_run_not_found", `no quality run "${c.req.param("id").slice(0, 100)}"`);
  return c.json(runView(run));
});

qualityRoutes.get("/v1/quality", async (c) => {
  const run = await latestRun(c.env);
  if (!run) throw new ApiError(404, "quality_run_not_found", "no quality run yet; POST /v1/quality/runs starts one");
  return c.json(runView(run));
});

qualityRoutes.get("/v1/quality/duplicates", async (c) => {
  const limit = limitParam(c.req.query("limit"), 50, 1000);
  const people = await duplicateCandidates(c.env);
  return c.json({ compared: people.length, items: findDuplicates(people, { limit }) });
});
