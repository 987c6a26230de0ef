/** Reads the sink over the service's public operator routes, as an operator (or a test) would. */
import { E2E_KEYS } from "../../scripts/local-server.mjs";

export interface SinkStatus {
  tables: {
    events: number;
    profiles: number;
    sessions: number;
    affinities: number;
    dead_letters: number;
    events_pending_lake: number;
  };
  consumer: { batches: number; statements: number; lastBatchAt: string | null; lastLagMs: number | null };
  kafka: { enabled: boolean };
}

const auth = { authorization: `Bearer ${E2E_KEYS.apiKey}` };

export async function sinkStatus(base: string): Promise<SinkStatus> {
  const res = await fetch(`${base}/v1/sink/status`, { headers: auth });
  if (!res.ok) throw new Error(`sink status → ${res.status}: ${await res.text()}`);
  return (await res.json()) as SinkStatus;
}

/** Every line of every raw lake object: the events as the lake holds them. */
export async function lakeLines(base: string): Promise<{ messageId: string; profileId: string }[]> {
  const lines: { messageId: string; profileId: string }[] = [];
  let cursor: string | null = null;
  do {
    const page = await fetch(`${base}/v1/sink/lake${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ""}`, {
      headers: auth,
    });
    const listed = (await page.json()) as { objects: { key: string }[]; cursor: string | null };
    for (const o of listed.objects) {
      const res = await fetch(`${base}/v1/sink/lake/object?key=${encodeURIComponent(o.key)}`, { headers: auth });
      const text = await res.text();
      for (const line of text.split("\n")) if (line) lines.push(JSON.parse(line));
    }
    cursor = listed.cursor;
  } while (cursor);
  return lines;
}

/** Polls until `done` holds, failing after `timeoutMs` with the last value seen. */
export async function waitFor<T>(read: () => Promise<T>, done: (v: T) => boolean, what: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await read();
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(last)}`);
}

export const writeAuth = `Basic ${Buffer.from(`${E2E_KEYS.writeKey}:`).toString("base64")}`;

export async function postBatch(base: string, batch: unknown[]): Promise<Response> {
  return fetch(`${base}/v1/batch`, {
    method: "POST",
    headers: { authorization: writeAuth, "content-type": "application/json" },
    body: JSON.stringify({ batch }),
  });
}
