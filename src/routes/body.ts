/**
 * Reads a request body with a byte limit enforced while streaming, so an
 * oversize body is refused before it is held in memory or parsed.
 */
import { ApiError } from "./errors";

export async function readLimitedText(req: Request, limit: number, what: string): Promise<string> {
  const declared = Number(req.headers.get("content-length") ?? Number.NaN);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(declared, limit, what);
  if (!req.body) return "";
  const reader = req.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
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
