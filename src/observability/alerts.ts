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

/** The destinations; one that is not an http(s) URL is skipped (and logged), never the rest with it. */
function destinations(env: Env): string[] {
  const urls: string[] = [];
  for (const raw of (env.ALERT_WEBHOOK_URLS ?? "").split(",")) {
    const url = raw.trim();
    if (!url) continue;
    let ok = false;
    try {
      ok = ["http:", "https:"].includes(new URL(url).protocol);
    } catch {}
    if (ok) urls.push(url);
    else console.error(JSON.stringify({ msg: "ALERT_WEBHOOK_URLS holds something that is not an http(s) URL" }));
  }
  return urls;
}

async function announce(env: Env, text: string): Promise<void> {
  await Promise.all(destinations(env).map((u) => post(u, text)));
}

/**
 * Slack's control characters escaped (its message formatting reads `<…>` as
 * links and mentions): a summary can hold a sender's event name, and no
 * sender may post `<!channel>` or a disguised link into an operator's channel.
 */
export function slackEscape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
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
      if (opened) await announce(env, `:red_circle: ${slackEscape(`${origin}: ${c.summary}`)} (incident ${opened.id})`);
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
          `:large_green_circle: ${slackEscape(`${origin}: resolved after ${duration(now - resolved.openedAt)} — ${resolved.summary}`)} (incident ${resolved.id})`,
        );
      }
    }
  }
}

/** Sink lag past this many seconds is an incident (`ALERT_SINK_LAG_SECONDS`). */
export const DEFAULT_SINK_LAG_ALERT_SECONDS = 300;

/**
 * The pipeline's own conditions, checked every minute by the Cron Trigger:
 * the sink's lag — the age of its last batch's oldest change, or, when
 * events were accepted after its last batch and none has come since, how
 * long they have waited (a stopped sink writes no batch to measure a lag
 * by) — and dead letters waiting.
 */
export async function checkPipeline(env: Env, now = Date.now()): Promise<void> {
  const row = await env.WAREHOUSE.prepare(
    `SELECT (SELECT value FROM sink_stats WHERE name = 'last_lag_ms') AS lag,
       (SELECT value FROM sink_stats WHERE name = 'last_batch_at') AS lastBatchAt,
       (SELECT value FROM sink_stats WHERE name = 'alert_accepted_seen') AS seen,
       (SELECT value FROM sink_stats WHERE name = 'alert_waiting_since') AS waitingSince,
       (SELECT value FROM metric_counters WHERE name = 'events_accepted_total' AND labels = '') AS accepted,
       (SELECT COUNT(*) FROM dead_letters) AS dead`,
  ).first<{
    lag: number | null;
    lastBatchAt: number | null;
    seen: number | null;
    waitingSince: number | null;
    accepted: number | null;
    dead: number;
  }>();
  const limit = Number(env.ALERT_SINK_LAG_SECONDS ?? DEFAULT_SINK_LAG_ALERT_SECONDS) || DEFAULT_SINK_LAG_ALERT_SECONDS;
  const lastBatchAt = row?.lastBatchAt ?? 0;
  const accepted = row?.accepted ?? 0;
  // Events accepted since the last look: the first look that saw them after the sink's last batch starts the wait.
  let waitingSince = row?.waitingSince ?? 0;
  if (accepted !== (row?.seen ?? 0) && waitingSince <= lastBatchAt) waitingSince = now;
  if (lastBatchAt >= waitingSince) waitingSince = 0;
  await env.WAREHOUSE.prepare(
    `INSERT INTO sink_stats (name, value) VALUES ('alert_accepted_seen', ?), ('alert_waiting_since', ?)
     ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
  )
    .bind(accepted, waitingSince)
    .run();
  const lagSeconds = (row?.lag ?? 0) / 1000;
  const waitedSeconds = waitingSince > 0 ? (now - waitingSince) / 1000 : 0;
  const dead = row?.dead ?? 0;
  await reconcileIncidents(
    env,
    [
      {
        key: "sink_lag",
        firing: lagSeconds > limit || waitedSeconds > limit,
        summary:
          waitedSeconds > limit
            ? `the sink has written no batch for ${waitedSeconds.toFixed(0)} s while events were accepted (alert above ${limit} s)`
            : `the sink's last batch carried a change ${lagSeconds.toFixed(0)} s old (alert above ${limit} s)`,
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
