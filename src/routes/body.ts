/**
 * Reads a request body with a byte limit enforced while streaming, so an
 * oversize body is refused without being held in memory or parsed.
 */
import { ApiError } from "./errors";

/**
 * Server SDKs may gzip their batches (RudderStack's Node SDK does by default).
 * The limit then counts decompressed bytes, so a small compressed bomb is
 * refused as soon as it inflates past the limit.
 */
function decodedBody(body: ReadableStream<Uint8Array>, encoding: string | null): ReadableStream<Uint8Array> {
  const e = (encoding ?? "").trim().toLowerCase();
  if (e === "" || e === "identity") return body;
  if (e === "gzip" || e === "x-gzip") return body.pipeThrough(new DecompressionStream("gzip"));
  if (e === "deflate") return body.pipeThrough(new DecompressionStream("deflate"));
  throw new ApiError(
    415,
    "unsupported_encoding",
    `content encoding "${e.slice(0, 40)}" is not accepted; send gzip, deflate or none`,
  );
}

export async function readLimitedText(req: Request, limit: number, what: string): Promise<string> {
  const declared = Number(req.headers.get("content-length") ?? Number.NaN);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(declared, limit, what);
  if (!req.body) return "";
  const reader = decodedBody(req.body, req.headers.get("content-encoding")).getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read().catch(() => {
      throw new ApiError(400, "malformed_body", "request body could not be decompressed; check Content-Encoding");
    });
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await discardRest(reader);
      throw tooLarge(total, limit, what);
    }
    parts.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    bytes.set(p, offset);
    offset += p.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

/** How much more of an oversize body is read and thrown away before it is cut off. */
const DISCARD_BYTES = 4 * 1024 * 1024;

/**
 * Reads and drops the rest of an oversize body before the 413 is answered.
 * Cancelling it mid-stream instead leaves the unread remainder on the
 * connection that carried it; under `wrangler dev` that connection (its proxy
 * to the Worker) is reused for the next request, which then fails with "worker
 * restarted mid-request". A body still streaming past `DISCARD_BYTES` more is
 * cancelled after all: a client sending that much after its limit is not
 * waited for.
 */
async function discardRest(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
  let discarded = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      discarded += value.byteLength;
      if (discarded > DISCARD_BYTES) break;
    }
  } catch {
    return; // a body that fails while being discarded has nothing left to read
  }
  await reader.cancel().catch(() => {});
}

function tooLarge(size: number, limit: number, what: string) {
  return new ApiError(
    413,
    "payload_too_large",
    `${what} is at least ${size} bytes; the limit is ${limit} bytes (${Math.round(limit / 1024)} KB) — split it into smaller requests`,
  );
}

/** Parses JSON, answering 400 with the parser's complaint. */
export function parseJson(text: string): unknown {
  if (!text.trim()) throw new ApiError(400, "empty_body", "request body is empty; send a JSON object");
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ApiError(400, "malformed_json", `request body is not valid JSON (${(err as Error).message})`);
  }
}

/** A JSON body read within `limit` bytes (refused while it streams in), then parsed. */
export async function readJsonBody(req: Request, limit: number, what: string): Promise<unknown> {
  return parseJson(await readLimitedText(req, limit, what));
}
