/**
 * Alerts (DESIGN §9): a condition that starts firing opens an incident and
 * announces it once to every `ALERT_WEBHOOK_URLS` destination as Slack
 * incoming-webhook JSON (`{ "text": … }`, which Slack, Mattermost, Rocket.Chat
 * and Discord's `/slack` endpoint accept); while it keeps firing nothing more
 * is sent; when it stops, the incident is resolved and announced once.
 *
 * "Once" holds across isolates and overlapping runs: D1 keeps at most one
 * open incident per key (a partial unique index), and only the statement
 * that opened or resolved the row sends. Conditions come from quality runs
 * (each failed check) and from the per-minute pipeline check (sink lag, dead
 * letters).
 */
import type { Env } from "../env";

export interface AlertCondition {
  /** What is wrong, stable across runs: `check:<name>`, `sink_lag`, `dead_letters`. */
  key: string;
  firing: boolean;
  summary: string;
}

const ATTEMPTS = 3;

async function post(url: string, text: string): Promise<void> {
  let failure = "";
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ text }),
      });
      await res.body?.cancel();
      if (res.ok) return;
      failure = `HTTP ${res.status}`;
      // A refusal that will not change (a revoked hook, a bad URL) is not tried again.
      if (res.status < 500 && res.status !== 429) break;
    } catch (err) {
      failure = String(err);
    }
    if (attempt < ATTEMPTS) await new Promise((r) => setTimeout(r, 500 * 2 ** (attempt - 1)));
  }
  console.error(JSON.stringify({ msg: "alert not delivered", host: new URL(url).host, error: failure }));
}

async function announce(env: Env, text: string): Promise<void> {
  const urls = (env.ALERT_WEBHOOK_URLS ?? "")
    .split(",")
    .map((u) => u.trim())
    .filter(Boolean);
  await Promise.all(urls.map((u) => post(u, text)));
}

function duration(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  return minutes < 60 ? `${minutes} min` : `${(minutes / 60).toFixed(1)} h`;
}

/** Opens an incident for each condition firing without one, resolves each open one no longer firing; announces each change. */
export async function reconcileIncidents(env: Env, conditions: readonly AlertCondition[], now = Date.now()) {
  const origin = env.PUBLIC_BASE_URL || "edge-profiles";
  for (const c of conditions) {
    if (c.firing) {
      const opened = await env.WAREHOUSE.prepare(
        `INSERT INTO alert_incidents (key, opened_at, summary) VALUES (?, ?, ?)
         ON CONFLICT (key) WHERE resolved_at IS NULL DO NOTHING RETURNING id`,
      )
        .bind(c.key, now, c.summary.slice(0, 1000))
        .first<{ id: number }>();
      if (opened) await announce(env, `:red_circle: ${origin}: ${c.summary} (incident ${opened.id})`);
    } else {
      const resolved = await env.WAREHOUSE.prepare(
        `UPDATE alert_incidents SET resolved_at = ? WHERE key = ? AND resolved_at IS NULL
         RETURNING id, opened_at AS openedAt, summary`,
      )
        .bind(now, c.key)
        .first<{ id: number; openedAt: number; summary: string }>();
      if (resolved) {
        await announce(
          env,
          `:large_green_circle: ${origin}: resolved after ${duration(now - resolved.openedAt)} — ${resolved.summary} (incident ${resolved.id})`,
        );
      }
    }
  }
}

/** Sink lag past this many seconds is an incident (`ALERT_SINK_LAG_SECONDS`). */
export const DEFAULT_SINK_LAG_ALERT_SECONDS = 300;

/** The pipeline's own conditions, checked every minute by the Cron Trigger. */
export async function checkPipeline(env: Env, now = Date.now()): Promise<void> {
  const row = await env.WAREHOUSE.prepare(
    `SELECT (SELECT value FROM sink_stats WHERE name = 'last_lag_ms') AS lag,
       (SELECT COUNT(*) FROM dead_letters) AS dead`,
  ).first<{ lag: number | null; dead: number }>();
  const limit = Number(env.ALERT_SINK_LAG_SECONDS ?? DEFAULT_SINK_LAG_ALERT_SECONDS) || DEFAULT_SINK_LAG_ALERT_SECONDS;
  const lagSeconds = (row?.lag ?? 0) / 1000;
  const dead = row?.dead ?? 0;
  await reconcileIncidents(
    env,
    [
      {
        key: "sink_lag",
        firing: lagSeconds > limit,
        summary: `the sink's last batch carried a change ${lagSeconds.toFixed(0)} s old (alert above ${limit} s)`,
      },
      {
        key: "dead_letters",
        firing: dead > 0,
        summary: `${dead} change messages failed every retry and wait in dead letters (GET /v1/sink/dead-letters)`,
      },
    ],
    now,
  );
}
