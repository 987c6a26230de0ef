/**
 * Live views of one person (`GET /v1/profiles/:id/stream`): the console's
 * People page watches a profile change while events arrive. Each watcher is
 * a stream of server-sent events (text/event-stream) that the actor writes
 * to after a change commits, returned to the edge over RPC. Nobody polls:
 * a quiet profile costs a comment every `HEARTBEAT_MS` to keep proxies from
 * closing the connection.
 *
 * Bounded in time, count and memory:
 * - changes are coalesced: a burst of batches builds one frame `COALESCE_MS`
 *   after the first, one build at a time, so frames leave in order;
 * - a watcher holds at most one frame it has not read yet; a newer one
 *   replaces it (latest wins), so a reader that stalls costs one frame, not
 *   a queue;
 * - at most `MAX_WATCHERS` per person: the oldest is told `replaced` and
 *   closed for a new one;
 * - each stream ends after `MAX_STREAM_MS` (the client reconnects), and an
 *   open stream keeps its actor in memory only that long.
 */

const MAX_WATCHERS = 4;
const MAX_STREAM_MS = 5 * 60_000;
const COALESCE_MS = 250;
const HEARTBEAT_MS = 25_000;

const encoder = new TextEncoder();

/** One server-sent event: its name and a JSON payload (a single `data:` line: JSON has no raw newline). */
export function sseFrame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

interface Watcher {
  controller: ReadableStreamDefaultController<Uint8Array>;
  /** The newest frame not yet handed to the stream (it holds one in its queue at most). */
  latest: string | null;
  heartbeat: ReturnType<typeof setInterval> | null;
  deadline: ReturnType<typeof setTimeout> | null;
  done: () => void;
}

export class ProfileWatchers {
  private readonly open = new Set<Watcher>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private building = false;
  private dirty = false;

  get size(): number {
    return this.open.size;
  }

  /**
   * A new stream that starts with `first` (the profile as it is). `ended`
   * resolves when it closes, however: the actor counts it as a call in
   * flight until then, so it is not released under a watcher.
   */
  watch(first: string): { stream: ReadableStream<Uint8Array>; ended: Promise<void> } {
    if (this.open.size >= MAX_WATCHERS) {
      const oldest = this.open.values().next().value;
      if (oldest) this.close(oldest, sseFrame("replaced", {}));
    }
    let done = () => {};
    const ended = new Promise<void>((resolve) => {
      done = resolve;
    });
    let watcher: Watcher | null = null;
    const stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          const w: Watcher = { controller, latest: `retry: 2000\n${first}`, heartbeat: null, deadline: null, done };
          w.heartbeat = setInterval(() => this.offer(w, ": still here\n\n", false), HEARTBEAT_MS);
          w.deadline = setTimeout(() => this.close(w), MAX_STREAM_MS);
          this.open.add(w);
          watcher = w;
          this.drain(w);
        },
        // The reader took what was queued: hand it the newest frame held back meanwhile.
        pull: () => {
          if (watcher) this.drain(watcher);
        },
        cancel: () => {
          if (watcher) this.forget(watcher);
        },
      },
      { highWaterMark: 1 },
    );
    return { stream, ended };
  }

  /**
   * Something about the person changed: `build` makes the frame every
   * watcher gets. Coalesced — called per batch, it builds at most one frame
   * per `COALESCE_MS`, never two at once.
   */
  changed(build: () => Promise<string | null>): void {
    if (this.open.size === 0) return;
    if (this.timer !== null || this.building) {
      this.dirty = true;
      return;
    }
    this.timer = setTimeout(async () => {
      this.timer = null;
      this.building = true;
      this.dirty = false;
      try {
        const frame = await build();
        if (frame) for (const w of this.open) this.offer(w, frame, true);
      } catch (err) {
        console.error(JSON.stringify({ msg: "live view not sent", error: String(err) }));
      } finally {
        this.building = false;
        if (this.dirty) this.changed(build);
      }
    }, COALESCE_MS);
  }

  /** Ends every stream (the person was erased or moved): a last frame first. */
  closeAll(frame?: string): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    for (const w of [...this.open]) this.close(w, frame);
  }

  /** A frame for one watcher: a newer profile replaces one it has not read; a heartbeat never does. */
  private offer(w: Watcher, text: string, replaces: boolean) {
    if (replaces || w.latest === null) w.latest = text;
    this.drain(w);
  }

  private drain(w: Watcher) {
    if (w.latest === null || (w.controller.desiredSize ?? 0) <= 0) return;
    const text = w.latest;
    w.latest = null;
    try {
      w.controller.enqueue(encoder.encode(text));
    } catch {
      // The reader went away between two writes.
      this.forget(w);
    }
  }

  private close(w: Watcher, last?: string) {
    try {
      // A last word goes even past a stalled reader: it is the only frame left.
      if (last) w.controller.enqueue(encoder.encode(last));
      w.controller.close();
    } catch {
      // Already closed or errored.
    }
    this.forget(w);
  }

  private forget(w: Watcher) {
    if (!this.open.delete(w)) return;
    if (w.heartbeat !== null) clearInterval(w.heartbeat);
    if (w.deadline !== null) clearTimeout(w.deadline);
    w.done();
  }
}
