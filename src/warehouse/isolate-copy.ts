/**
 * A copy of warehouse data held in the Worker isolate's memory, for the hot
 * paths that must not query D1 per request (the catalog's ranking index, the
 * experiments a merge call joins): loaded on first use, served as it is while
 * a background reload runs once it is older than the refresh interval
 * (stale-while-revalidate), and dropped at once by `invalidate()` after a
 * write through this isolate — a load that began before the write is not
 * kept. Other isolates converge within the refresh interval.
 */
import type { WarehouseDb } from "../catalog/store";

export interface Copy<T> {
  value: T;
  loadedAt: number;
}

export class IsolateCopy<T> {
  private current: Copy<T> | null = null;
  private loading: Promise<Copy<T>> | null = null;
  /** Bumped by every invalidation, so a load that began before it is not kept. */
  private generation = 0;

  constructor(
    /** What the copy holds, for the log line of a failed background refresh. */
    private readonly what: string,
    private readonly load: (db: WarehouseDb) => Promise<T>,
  ) {}

  /** The copy; only a cold isolate waits for D1. */
  async get(
    db: WarehouseDb,
    refreshMs: number,
    waitUntil: (p: Promise<unknown>) => void,
    now: number,
  ): Promise<Copy<T>> {
    const held = this.current;
    if (held && now - held.loadedAt < refreshMs) return held;
    if (held) {
      waitUntil(
        this.reload(db, now).catch((err) =>
          console.error(JSON.stringify({ msg: `${this.what} refresh failed`, error: String(err) })),
        ),
      );
      return held;
    }
    return this.reload(db, now);
  }

  /**
   * The copy as held, without waiting: null when none is loaded yet. An
   * out-of-date copy is still answered, and reloaded in the background.
   */
  peek(db: WarehouseDb, refreshMs: number, waitUntil: (p: Promise<unknown>) => void, now: number): T | null {
    const held = this.current;
    if (!held) return null;
    if (now - held.loadedAt >= refreshMs) {
      waitUntil(
        this.reload(db, now).catch((err) =>
          console.error(JSON.stringify({ msg: `${this.what} refresh failed`, error: String(err) })),
        ),
      );
    }
    return held.value;
  }

  /** Loads from D1 now, or joins the load under way. */
  reload(db: WarehouseDb, now: number): Promise<Copy<T>> {
    if (this.loading) return this.loading;
    const started = this.generation;
    const attempt = this.load(db)
      .then((value) => {
        const loaded = { value, loadedAt: now };
        if (started === this.generation) this.current = loaded;
        return loaded;
      })
      .finally(() => {
        if (this.loading === attempt) this.loading = null;
      });
    this.loading = attempt;
    return attempt;
  }

  /** Forgets the copy after a write through this isolate. */
  invalidate(): void {
    this.generation += 1;
    this.current = null;
    this.loading = null;
  }
}
