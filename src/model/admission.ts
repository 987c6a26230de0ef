/**
 * Load shedding for calls to actors: admit a request only when the calls
 * already admitted can be finished within a time budget at the rate calls
 * have been finishing lately. A saturated service then refuses new work in
 * a millisecond (with how long to wait) instead of queueing it until every
 * client times out; what it admitted, it finishes.
 */

/** Completions are counted in windows this long; the rate is the last full window's. */
const WINDOW_MS = 1_000;

export type Admitted = { ok: true } | { ok: false; retryAfterSeconds: number };

export class Admission {
  /** Calls admitted and not yet finished. */
  private pending = 0;
  private windowStart: number | null = null;
  private finishedInWindow = 0;
  /** Whether every call finished in this window left at least `slots` pending (the service was the bottleneck). */
  private saturated = true;
  /** Calls the service finishes per second when saturated; null until measured. */
  private rate: number | null = null;

  constructor(
    /** How long the admitted work may take to drain. */
    private readonly budgetMs: number,
    /** Calls run side by side: fewer pending than this means the service was not the bottleneck. */
    private readonly slots: number,
    /** Calls admitted without question before any rate is known (a cold start). */
    private readonly coldAllowance: number,
  ) {}

  /** Whether `calls` more may be admitted at `now`; if so they count as pending until `finished`. */
  admit(calls: number, now: number): Admitted {
    this.roll(now);
    const drainMs = this.drainMs(this.pending + calls);
    if (this.pending > 0 && drainMs > this.budgetMs) {
      const waitMs = Math.min(this.drainMs(this.pending), this.budgetMs);
      return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
    }
    this.pending += calls;
    return { ok: true };
  }

  /** One admitted call is done (or will not run). */
  finished(now: number): void {
    this.roll(now);
    if (this.pending < this.slots) this.saturated = false;
    this.pending = Math.max(0, this.pending - 1);
    this.finishedInWindow += 1;
  }

  /** Admitted calls that will not run after all (their request failed first): no longer pending, not counted as done. */
  withdraw(calls: number): void {
    this.pending = Math.max(0, this.pending - calls);
  }

  get queued(): number {
    return this.pending;
  }

  private drainMs(calls: number): number {
    if (this.rate === null) return calls <= this.coldAllowance ? 0 : this.budgetMs + 1;
    return (calls / Math.max(this.rate, 1)) * 1000;
  }

  private roll(now: number) {
    if (this.windowStart === null) this.windowStart = now;
    const elapsed = now - this.windowStart;
    if (elapsed < WINDOW_MS) return;
    const measured = (this.finishedInWindow * 1000) / elapsed;
    // A saturated window measures capacity; any other only shows it is at least that much.
    if (this.finishedInWindow > 0) this.rate = this.saturated ? measured : Math.max(this.rate ?? 0, measured);
    this.windowStart = now;
    this.finishedInWindow = 0;
    this.saturated = true;
  }
}
