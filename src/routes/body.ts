/**
 * Reads a request body with a byte limit enforced while streaming, so an
 * oversize body is refused before it is held in memory or parsed.
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
      await reader.cancel();
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
