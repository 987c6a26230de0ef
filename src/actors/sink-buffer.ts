/**
 * SinkBuffer: gathers many actors' outbox runs and sends them to the change
 * Queue as bundles (`SINK_COALESCE_MS`).
 *
 * With records sent as they are written (`SINK_FLUSH_MS=0`), every ingest
 * call is one Queue message. Miniflare's queue broker cannot take that on a
 * busy single machine: it sets one timer per message it enqueues, and a
 * broker that is never idle reaches workerd's 10,000 active timers per
 * object after about ten thousand messages, then fails every send
 * (`QuotaExceededError`, seen by the sender as "Unknown Internal Error
 * (15000)") until it rests. Bundling a quarter second of runs into one
 * message cuts the messages by the number of actors writing at once.
 *
 * The buffer holds runs in memory only. The actor's outbox row stays until
 * the consumer confirms the run, so a buffer that is reset before it sends
 * loses nothing: the actor sends the run again after `SINK_REDELIVER_MS`.
 * A buffer that cannot send keeps its runs (up to a bound) and tries again
 * with backoff; a full buffer refuses new runs, and their actors back off.
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { packBundles, retryDelayMs } from "../model/changes";
import { readSettings } from "../model/settings";
import { utf8Bytes } from "../model/validate";

/** Buffers per deployment: actors spread over them by name, so no one buffer takes every write. */
export const SINK_BUFFER_SHARDS = 4;

/** Run bytes one buffer holds at most; beyond it, `add` refuses and the actor retries later. */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

export const BUFFER_FULL = "sink buffer full";

interface Run {
  body: string;
  bytes: number;
}

/** What an operator sees of one buffer (`GET /v1/sink/status`). */
export interface SinkBufferStatus {
  runs: number;
  bytes: number;
  /** When the send in progress began; a send that never ends holds every run behind it. */
  sendingSince: string | null;
  lastSentAt: string | null;
  runsSent: number;
  /** Sends failed in a row. */
  failures: number;
}

export class SinkBuffer extends DurableObject<Env> {
  private runs: Run[] = [];
  private bytes = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private sendingSince: number | null = null;
  private lastSentAt: number | null = null;
  private runsSent = 0;
  private failures = 0;
  private readonly coalesceMs: number;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.coalesceMs = readSettings(env).sinkCoalesceMs ?? 250;
  }

  /** Takes `ChangeMessage` bodies to send with the next bundle; throws `BUFFER_FULL` when it cannot hold them. */
  async add(bodies: string[]): Promise<void> {
    const runs = bodies.map((body) => ({ body, bytes: utf8Bytes(body) }));
    const adding = runs.reduce((n, r) => n + r.bytes, 0);
    if (this.bytes + adding > MAX_BUFFERED_BYTES) throw new Error(`${BUFFER_FULL}: try again later`);
    this.runs.push(...runs);
    this.bytes += adding;
    this.arm(this.coalesceMs);
  }

  async status(): Promise<SinkBufferStatus> {
    const at = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    return {
      runs: this.runs.length,
      bytes: this.bytes,
      sendingSince: at(this.sendingSince),
      lastSentAt: at(this.lastSentAt),
      runsSent: this.runsSent,
      failures: this.failures,
    };
  }

  private arm(delayMs: number) {
    if (this.timer !== null || this.sendingSince !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.send();
    }, delayMs);
  }

  /** Sends every held run in bundles; on a failure keeps the unsent ones, in order, and backs off. */
  private async send() {
    const runs = this.runs;
    this.runs = [];
    this.bytes = 0;
    this.sendingSince = Date.now();
    let sent = 0;
    try {
      for (const batch of packBundles(runs)) {
        await this.env.SINK_QUEUE.sendBatch(batch.map((m) => ({ body: m.body, contentType: "text" as const })));
        const runsInBatch = batch.reduce((n, m) => n + m.runs, 0);
        sent += runsInBatch;
        this.runsSent += runsInBatch;
        this.lastSentAt = Date.now();
      }
      this.failures = 0;
    } catch (err) {
      this.failures += 1;
      const unsent = runs.slice(sent);
      this.runs = [...unsent, ...this.runs];
      this.bytes = this.runs.reduce((n, r) => n + r.bytes, 0);
      console.error(
        JSON.stringify({
          msg: "sink buffer send failed",
          runs: unsent.length,
          failures: this.failures,
          error: String(err),
        }),
      );
    } finally {
      this.sendingSince = null;
    }
    if (this.runs.length > 0) this.arm(this.failures > 0 ? retryDelayMs(this.failures) : this.coalesceMs);
  }
}
