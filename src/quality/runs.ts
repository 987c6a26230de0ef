/**
 * Quality runs: created by `POST /v1/quality/runs` (which `npm run quality`
 * calls) or the daily Cron Trigger, carried out by the `edge-profiles-quality` Queue's
 * consumer (a run reads the lake and compares thousands of profiles: more
 * than a request's `waitUntil` should hold), and kept in D1 `quality_runs`.
 * Each check runs on its own: one that cannot run fails alone, with why.
 * When the run ends, every failed check opens an alert incident, and every
 * check that passes again resolves its own (observability/alerts.ts).
 */
import type { Env } from "../env";
import { type CheckResult, worstOf } from "../model/quality-checks";
import { reconcileIncidents } from "../observability/alerts";
import { CHECKS } from "./checks";

export const QUALITY_QUEUE = "edge-profiles-quality";

/** The daily run's schedule (wrangler.toml `[triggers] crons`): 03:00 UTC, after most shops' quiet hours. */
export const QUALITY_CRON = "0 3 * * *";

/** A run still `running` after this long was lost with its consumer: it reads as `error`. */
export const RUN_TIMEOUT_MS = 15 * 60_000;

/** `api`: `POST /v1/quality/runs` (also what `npm run quality` calls); `cron`: the daily run. */
export type RunTrigger = "api" | "cron";

export interface QualityRun {
  id: string;
  trigger: RunTrigger;
  startedAt: number;
  finishedAt: number | null;
  status: "running" | "pass" | "warn" | "fail" | "error";
  checks: CheckResult[];
  error: string | null;
}

interface RunRow {
  id: string;
  trigger: RunTrigger;
  started_at: number;
  finished_at: number | null;
  status: QualityRun["status"];
  checks: string | null;
  error: string | null;
}

function fromRow(r: RunRow, now: number): QualityRun {
  const lost = r.status === "running" && now - r.started_at > RUN_TIMEOUT_MS;
  return {
    id: r.id,
    trigger: r.trigger,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    status: lost ? "error" : r.status,
    checks: r.checks ? (JSON.parse(r.checks) as CheckResult[]) : [],
    error: lost ? "the run did not finish within 15 minutes; start another" : r.error,
  };
}

/** Records a run as started and queues it; its id answers `GET /v1/quality/runs/:id`. */
export async function startRun(env: Env, trigger: RunTrigger, now = Date.now()): Promise<string> {
  const id = `qr_${now.toString(36)}_${crypto.randomUUID().slice(0, 8)}`;
  await env.WAREHOUSE.prepare("INSERT INTO quality_runs (id, trigger, started_at, status) VALUES (?, ?, ?, 'running')")
    .bind(id, trigger, now)
    .run();
  await env.QUALITY_QUEUE.send(JSON.stringify({ id }), { contentType: "text" });
  return id;
}

export async function readRun(env: Env, id: string, now = Date.now()): Promise<QualityRun | null> {
  const row = await env.WAREHOUSE.prepare("SELECT * FROM quality_runs WHERE id = ?").bind(id).first<RunRow>();
  return row ? fromRow(row, now) : null;
}

/** The newest run that finished (or was lost), else the newest at all. */
export async function latestRun(env: Env, now = Date.now()): Promise<QualityRun | null> {
  const row = await env.WAREHOUSE.prepare(
    `SELECT * FROM quality_runs ORDER BY (status = 'running' AND started_at > ?) ASC, started_at DESC LIMIT 1`,
  )
    .bind(now - RUN_TIMEOUT_MS)
    .first<RunRow>();
  return row ? fromRow(row, now) : null;
}

/** The newest `limit` runs, newest first. */
export async function listRuns(env: Env, limit: number, now = Date.now()): Promise<QualityRun[]> {
  const { results } = await env.WAREHOUSE.prepare("SELECT * FROM quality_runs ORDER BY started_at DESC LIMIT ?")
    .bind(limit)
    .all<RunRow>();
  return results.map((r) => fromRow(r, now));
}

/** Runs every check of a started run and records the outcome; a redelivered message for a finished run does nothing. */
export async function carryOutRun(env: Env, id: string, now = Date.now()): Promise<QualityRun | null> {
  const run = await readRun(env, id, now);
  if (!run || run.finishedAt !== null) return run;
  const checks: CheckResult[] = [];
  for (const [name, check] of CHECKS) {
    try {
      checks.push(await check(env, now));
    } catch (err) {
      console.error(JSON.stringify({ msg: "quality check failed to run", check: name, error: String(err) }));
      checks.push({
        check: name,
        status: "fail",
        observed: null,
        threshold: { warn: 0, fail: 0, direction: "above" },
        unit: "",
        detail: `the check could not run: ${String(err).slice(0, 300)}`,
        sample: [],
      });
    }
  }
  const status = worstOf(checks.map((c) => c.status));
  const finishedAt = Date.now();
  await env.WAREHOUSE.prepare(
    "UPDATE quality_runs SET status = ?, checks = ?, finished_at = ? WHERE id = ? AND finished_at IS NULL",
  )
    .bind(status, JSON.stringify(checks), finishedAt, id)
    .run();
  await reconcileIncidents(
    env,
    checks.map((c) => ({
      key: `check:${c.check}`,
      firing: c.status === "fail",
      summary: `quality check ${c.check} failed: ${c.detail}`,
    })),
    finishedAt,
  );
  return { ...run, status, checks, finishedAt };
}

/** The Queue consumer: one run per message. */
export async function consumeQualityRuns(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  for (const message of batch.messages) {
    let id: unknown;
    try {
      id = (JSON.parse(String(message.body)) as { id?: unknown }).id;
    } catch {
      id = undefined;
    }
    if (typeof id !== "string") {
      console.error(
        JSON.stringify({ msg: "quality run message without an id", body: String(message.body).slice(0, 200) }),
      );
      message.ack();
      continue;
    }
    await carryOutRun(env, id);
    message.ack();
  }
}
