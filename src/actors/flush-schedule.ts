/**
 * When a profile actor's outbox is flushed: the actor's one alarm, kept in
 * step with what the outbox holds. New records arm it within the flush
 * interval; a failed send backs off with jitter, and new records do not cut
 * the backoff short; it is re-armed only while records remain (unsent, or
 * sent and unconfirmed) and dropped once the consumer has confirmed them
 * all, so an idle actor is never woken for nothing. Alarms are
 * at-least-once: a run with nothing due does nothing.
 *
 * The same alarm also wakes the actor for its audiences (`wakeAt`): an
 * audience due to change by time alone, or a webhook delivery to retry. The
 * alarm is set for whichever comes first and kept while either is pending.
 */
import { retryDelayMs } from "../model/changes";
import { type ChangeSender, type FlushResult, flushOutbox, outboxDepth } from "./outbox";

export class FlushSchedule {
  /** When the alarm is set for (mirrors storage, so ingest need not read it). */
  private alarmAt: number | null = null;
  /** Consecutive failed flushes, and the earliest time to try again. */
  private failures = 0;
  private retryAt = 0;
  /** A send is under way (from the alarm or an ingest). */
  private running = false;
  /** When the actor's audiences next need the alarm (null: they do not). */
  private other: number | null = null;

  constructor(private readonly storage: DurableObjectStorage) {}

  /** On wake: reads the alarm, and arms one for records left without it (a crash between commit and setAlarm). */
  async load(): Promise<void> {
    this.alarmAt = await this.storage.getAlarm();
    if (this.alarmAt === null && outboxDepth(this.storage.sql).pending > 0) await this.arm(Date.now());
  }

  get at(): number | null {
    return this.alarmAt;
  }

  /** Sets the alarm unless one is already due sooner. */
  private async arm(at: number): Promise<void> {
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    await this.storage.setAlarm(at);
  }

  /** The audiences need the alarm at `at` (null: no longer). */
  async wakeAt(at: number | null): Promise<void> {
    this.other = at;
    if (at !== null) await this.arm(at);
  }

  /** New records were committed: flush within `flushMs`, or when a backoff ends. */
  async recordsAdded(now: number, flushMs: number): Promise<void> {
    await this.arm(Math.max(now + flushMs, this.retryAt));
  }

  /**
   * New records were committed and are to go at once (`SINK_FLUSH_MS=0`):
   * sent within this call, unless a send is under way or a backoff holds, in
   * which case the alarm takes them. An actor that sends as it writes is not
   * woken again by its alarm, and its records reach the warehouse sooner.
   */
  async sendNow(now: number, queue: ChangeSender, actor: string | null, redeliverMs: number): Promise<void> {
    if (this.running || now < this.retryAt) return this.recordsAdded(now, 0);
    await this.run(queue, actor, redeliverMs, false);
  }

  /**
   * The alarm fired (`fired`), or an ingest sends at once: sends what is due
   * and arms the next run, if any. An ingest leaves a pending alarm as it is
   * (the audiences' wake-up would otherwise be set again on every batch).
   */
  async run(queue: ChangeSender, actor: string | null, redeliverMs: number, fired = true): Promise<void> {
    if (fired) this.alarmAt = null;
    if (this.other !== null) await this.arm(this.other);
    if (!actor) return;
    let result: FlushResult;
    this.running = true;
    try {
      result = await flushOutbox(this.storage.sql, queue, actor, redeliverMs);
      this.failures = 0;
      this.retryAt = 0;
    } catch (err) {
      this.failures += 1;
      const delay = retryDelayMs(this.failures);
      console.error(
        JSON.stringify({
          msg: "outbox flush failed",
          actor,
          failures: this.failures,
          retryInMs: delay,
          error: String(err),
        }),
      );
      this.retryAt = Date.now() + delay;
      await this.arm(this.retryAt);
      return;
    } finally {
      this.running = false;
    }
    if (result.nextAt !== null) await this.arm(result.nextAt);
  }

  /** After a confirmation: with nothing left to send or resend, the alarm would only wake the actor for nothing. */
  async confirmed(): Promise<void> {
    if (this.alarmAt === null || this.other !== null || outboxDepth(this.storage.sql).pending > 0) return;
    this.alarmAt = null;
    await this.storage.deleteAlarm();
  }

  /** Drops the alarm and forgets any backoff (the actor's storage is being wiped). */
  async clear(): Promise<void> {
    await this.storage.deleteAlarm();
    this.alarmAt = null;
    this.failures = 0;
    this.retryAt = 0;
    this.other = null;
  }
}
