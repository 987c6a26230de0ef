/**
 * Live views of one person (`GET /v1/profiles/:id/stream`): the console's
 * People page watches a profile change while events arrive. Each watcher is
 * a stream of server-sent events (text/event-stream) that the actor writes
 * to after a change commits, returned to the edge over RPC. Nobody polls:
 * a quiet profile costs a comment every `HEARTBEAT_MS` to keep proxies from
 * closing the connection.
 *
 * Bounded: at most `MAX_WATCHERS` per person (the oldest is closed for a
 * new one) and each stream ends after `MAX_STREAM_MS`, so a forgotten tab
 * does not hold the actor in memory for ever; the client reconnects.
 */

export const MAX_WATCHERS = 4;
export const MAX_STREAM_MS = 5 * 60_000;
const HEARTBEAT_MS = 25_000;

const encoder = new TextEncoder();

/** One server-sent event: its name and a JSON payload (a single `data:` line: JSON has no raw newline). */
export function sseFrame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Frames a reader may leave unread before its stream is closed as too slow. */
const MAX_UNREAD = 64;

interface Watcher {
  controller: ReadableStreamDefaultController<Uint8Array>;
  heartbeat: ReturnType<typeof setInterval> | null;
  deadline: ReturnType<typeof setTimeout> | null;
  done: () => void;
}

export class ProfileWatchers {
  private readonly open = new Set<Watcher>();

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
      if (oldest) this.close(oldest);
    }
    let done = () => {};
    const ended = new Promise<void>((resolve) => {
      done = resolve;
    });
    let watcher: Watcher | null = null;
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        controller.enqueue(encoder.encode(`retry: 2000\n${first}`));
        const w: Watcher = { controller, heartbeat: null, deadline: null, done };
        w.heartbeat = setInterval(() => this.write(w, ": still here\n\n"), HEARTBEAT_MS);
        w.deadline = setTimeout(() => this.close(w), MAX_STREAM_MS);
        this.open.add(w);
        watcher = w;
      },
      cancel: () => {
        if (watcher) this.forget(watcher);
      },
    });
    return { stream, ended };
  }

  /** Sends a frame to every watcher. */
  send(frame: string): void {
    for (const w of this.open) this.write(w, frame);
  }

  /** Ends every stream (the person was erased or moved): a last frame first. */
  closeAll(frame?: string): void {
    for (const w of [...this.open]) {
      if (frame) this.write(w, frame);
      this.close(w);
    }
  }

  private write(w: Watcher, text: string) {
    if ((w.controller.desiredSize ?? 0) < -MAX_UNREAD) {
      this.close(w);
      return;
    }
    try {
      w.controller.enqueue(encoder.encode(text));
    } catch {
      // The reader went away between two writes.
      this.forget(w);
    }
  }

  private close(w: Watcher) {
    try {
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
