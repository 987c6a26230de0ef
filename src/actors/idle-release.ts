/**
 * Releasing actors on a single self-hosted machine (`npm start`).
 *
 * Every live actor holds its own SQLite connection, and workerd caps the
 * memory of all SQLite connections in the process together: past about two
 * thousand live profile actors, opening the next database fails with
 * SQLITE_NOMEM. The runtime evicts an actor only after 10 seconds without a
 * call, and each ingest wakes an actor three times (the batch, the outbox
 * alarm, the consumer's confirmation), so traffic over many people keeps
 * thousands alive. With `ACTOR_IDLE_RELEASE_MS` set:
 *
 *   - an actor resets itself (`ctx.abort`) once it has had no call in flight
 *     for that long (a timer: it serves quiet periods);
 *   - while more than `ACTOR_LIVE_LIMIT` actors are live in this isolate, an
 *     actor goes as soon as the edge is done with it: its answer says so
 *     (`release` on an ingest result) and the edge calls `releaseNow`. This
 *     is driven by calls, not timers: a saturated event loop runs timers
 *     late, exactly when the bound matters. An actor woken by something no
 *     edge call follows (its alarm, a confirmation) goes by a zero timer.
 *     A call that reaches an actor as it goes fails with `RELEASE_REASON`
 *     without having run, and ingestion sends it again.
 *
 * Storage is the truth, so a released actor wakes on its next call exactly as
 * after an eviction. On Cloudflare, actors spread over many machines and the
 * platform manages their lifetime: leave both unset there.
 */

/** Actors of this isolate that hold their database open and will release themselves. */
let live = 0;

/** Why a released actor's pending calls fail; such a call never ran and may be sent again. */
const RELEASE_REASON = "released to bound live actors";

export function wasReleased(err: unknown): boolean {
  return String(err).includes(RELEASE_REASON);
}

/** An alarm due sooner than this keeps an idle actor for it (releasing first would only wake it again). */
const KEEP_FOR_ALARM_MS = 2_000;

export interface ReleasePolicy {
  /** Idle time after which an actor resets itself; null leaves it to the runtime. */
  idleMs: number | null;
  /** Live actors above which each actor goes as soon as the edge is done with it. */
  liveLimit: number;
}

export class IdleRelease {
  private inFlight = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private released = false;

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly policy: ReleasePolicy,
    /** When this actor's alarm is due, if set. */
    private readonly alarmAt: () => number | null = () => null,
  ) {
    if (policy.idleMs === null) return;
    live += 1;
    // An actor woken for a call that never comes (or whose call failed to start) still goes.
    this.arm();
  }

  /** Runs one call; the actor is not released while any call is in flight. */
  async around<T>(call: () => Promise<T>): Promise<T> {
    if (this.policy.idleMs === null) return call();
    this.inFlight += 1;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    try {
      return await call();
    } finally {
      this.inFlight -= 1;
      if (this.inFlight === 0) this.arm();
    }
  }

  /** Whether this isolate holds more live actors than it should: the edge is then asked to release this one. */
  get pressed(): boolean {
    return this.policy.idleMs !== null && live > this.policy.liveLimit;
  }

  /**
   * The edge is done with this actor: under pressure it goes now, unless
   * another call is in flight. Every call before this one has answered, and
   * an answer leaves only after its writes are durable.
   */
  releaseNow(): void {
    if (!this.pressed || this.inFlight > 0) return;
    this.release();
  }

  private release() {
    if (this.released) return;
    this.released = true;
    live -= 1;
    if (this.timer !== null) clearTimeout(this.timer);
    // Resets this object: its memory and database connection go; storage stays.
    this.ctx.abort(RELEASE_REASON);
  }

  private arm() {
    const idleMs = this.policy.idleMs;
    if (idleMs === null || this.released) return;
    // Under pressure at once: alarms and confirmations wake actors that no edge call will release.
    const wait = this.pressed ? 0 : idleMs;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.inFlight > 0 || this.released) return;
      const alarm = this.alarmAt();
      if (!this.pressed && alarm !== null && alarm - Date.now() < KEEP_FOR_ALARM_MS) {
        this.arm();
        return;
      }
      this.release();
    }, wait);
  }
}
