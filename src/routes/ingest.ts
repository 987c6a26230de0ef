/**
 * Segment HTTP Tracking API compatible ingestion (DESIGN §2.1):
 * `/v1/{track,identify,page,screen,group,alias}`, `/v1/batch` (+ `/v1/import`)
 * and the `GET /v1/pixel/*` beacon. CORS is open on these routes only.
 */

import type { Context, MiddlewareHandler } from "hono";
import { Hono } from "hono";
import { cors } from "hono/cors";
import { warehouseDb } from "../catalog/store";
import { LIMITS, type MessageType } from "../model/messages";
import { GIF_HEADERS, TRANSPARENT_GIF } from "../model/pixel";
import { settingsOf } from "../model/settings";
import { base64Decode } from "../model/signing";
import { findUnsafeKey, jsonByteLength, type RejectionCode } from "../model/validate";
import { quarantine, recordUnauthenticated } from "../sink/quarantine";
import type { AppEnv } from "./app-env";
import { basicUser, type WriteKeyClass, writeKeyClass } from "./auth";
import { parseJson, readLimitedText } from "./body";
import { ApiError } from "./errors";
import { clientOf, ingestMessages } from "./ingest-pipeline";
import { clientAddress, enforceLimit, fingerprint, overLimit } from "./limits";

export const ingestRoutes = new Hono<AppEnv>();

const openCors = cors({
  origin: "*",
  allowMethods: ["GET", "POST", "OPTIONS"],
  allowHeaders: ["Authorization", "Content-Type"],
  maxAge: 86_400,
});

/**
 * Ingestion is counted per write key (the Basic-auth user when the client
 * sends one: a key inside the body is only known after parsing) and client
 * address, before the body is read.
 */
const limitIngestion: MiddlewareHandler<AppEnv> = async (c, next) => {
  const writeKey = basicUser(c.req.header("authorization"));
  const key = `ingest:${writeKey ? await fingerprint(writeKey) : "-"}:${clientAddress(c)}`;
  await enforceLimit(c.env.INGEST_LIMITER, key, "write key and client address");
  await next();
};

const JSON_MEDIA_TYPES = new Set(["application/json", "text/plain", ""]);
/**
 * Some SDKs label a JSON body with a form type (RudderStack's Node SDK posts
 * its gzip buffer through axios, which calls it urlencoded). Such a body is
 * accepted when it is JSON, and refused with 415 otherwise.
 */
const LENIENT_MEDIA_TYPES = new Set(["application/x-www-form-urlencoded", "application/octet-stream"]);

function unsupportedMediaType(mediaType: string) {
  return new ApiError(
    415,
    "unsupported_media_type",
    `content type "${mediaType.slice(0, 80)}" is not accepted; send application/json (or text/plain holding JSON, as sendBeacon does)`,
  );
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Reads, parses and authenticates an ingestion request body; answers it with the write key's class. */
async function readIngestBody(c: Context<AppEnv>): Promise<{ body: Record<string, unknown>; trust: WriteKeyClass }> {
  const mediaType = (c.req.header("content-type") ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  const lenient = LENIENT_MEDIA_TYPES.has(mediaType);
  if (!lenient && !JSON_MEDIA_TYPES.has(mediaType) && !mediaType.endsWith("+json"))
    throw unsupportedMediaType(mediaType);
  const text = await readLimitedText(c.req.raw, LIMITS.requestBytes, "request body");
  let body: unknown;
  try {
    body = parseJson(text);
  } catch (err) {
    throw lenient ? unsupportedMediaType(mediaType) : err;
  }
  if (!isPlainObject(body)) {
    throw new ApiError(
      400,
      "invalid_body",
      `request body must be a JSON object, not ${Array.isArray(body) ? "an array" : typeof body === "object" ? "null" : `a ${typeof body}`}`,
    );
  }
  const fromHeader = basicUser(c.req.header("authorization"));
  const writeKey = fromHeader ?? (typeof body.writeKey === "string" ? body.writeKey : null);
  const trust = await writeKeyClass(writeKey, c.env);
  if (!trust) {
    throw new ApiError(
      401,
      "unauthorized",
      writeKey
        ? "write key is not valid"
        : "missing write key; send HTTP Basic auth with the write key as user name, or writeKey in the body",
    );
  }
  return { body, trust };
}

function sentAtOf(v: unknown): string | number | undefined {
  return typeof v === "string" || typeof v === "number" ? v : undefined;
}

const SINGLE_TYPES: readonly MessageType[] = ["track", "identify", "page", "screen", "group", "alias"];

/**
 * Each type also answers at its initial (`/v1/t`, `/v1/i`, …), the paths
 * analytics.js posts single messages to; `/v1/b` is its batch path.
 */
for (const [type, path] of SINGLE_TYPES.flatMap((t): [MessageType, string][] => [
  [t, `/v1/${t}`],
  [t, `/v1/${t.charAt(0)}`],
])) {
  ingestRoutes.use(path, openCors);
  ingestRoutes.post(path, limitIngestion, async (c) => {
    const { body, trust } = await readIngestBody(c);
    const { writeKey: _key, ...message } = body;
    const result = await ingestMessages(c.env, (p) => c.executionCtx.waitUntil(p), [message], {
      source: type,
      trust,
      impliedType: type,
      client: clientOf(c.req, c.env),
    });
    return c.json(result);
  });
}

for (const path of ["/v1/batch", "/v1/import", "/v1/b"]) {
  ingestRoutes.use(path, openCors);
  ingestRoutes.post(path, limitIngestion, async (c) => {
    const { body, trust } = await readIngestBody(c);
    const batch = body.batch;
    if (!Array.isArray(batch)) {
      throw new ApiError(400, "invalid_batch", 'body needs "batch": an array of Segment messages');
    }
    if (batch.length > LIMITS.batchMessages) {
      throw new ApiError(
        400,
        "batch_too_large",
        `batch has ${batch.length.toLocaleString("en-US")} messages; the limit is ${LIMITS.batchMessages.toLocaleString("en-US")} — split it`,
      );
    }
    let batchContext: Record<string, unknown> | undefined;
    if (body.context !== undefined) {
      if (!isPlainObject(body.context))
        throw new ApiError(400, "invalid_context", "batch context must be a JSON object");
      const unsafe = findUnsafeKey(body.context, "context");
      if (unsafe) throw new ApiError(400, "invalid_context", unsafe);
      // Copied into every message: cap it once here rather than 2,500 times per message.
      const size = jsonByteLength(body.context);
      if (size > LIMITS.messageBytes) {
        throw new ApiError(
          413,
          "context_too_large",
          `batch context is ${size.toLocaleString("en-US")} bytes; the limit is ${LIMITS.messageBytes.toLocaleString("en-US")} (32 KB) — trim it`,
        );
      }
      batchContext = body.context;
    }
    const result = await ingestMessages(c.env, (p) => c.executionCtx.waitUntil(p), batch, {
      source: "batch",
      trust,
      batchContext,
      batchSentAt: sentAtOf(body.sentAt),
      client: clientOf(c.req, c.env),
    });
    return c.json(result);
  });
}

/** Longest `data` parameter decoded (a URL holding more is not a pixel). */
const MAX_PIXEL_DATA = 48 * 1024;
const PIXEL_TYPES = new Set<MessageType>(["track", "page", "identify"]);

/**
 * Pixel payloads are UTF-8 JSON; a page that base64-encoded Latin-1 text with
 * plain `btoa` is read as Latin-1 rather than refused.
 */
function parsePixelJson(bytes: Uint8Array): unknown {
  for (const decoder of [new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }), new TextDecoder("latin1")]) {
    try {
      return JSON.parse(decoder.decode(bytes));
    } catch {}
  }
  return undefined;
}

/**
 * `GET /v1/pixel/{track|page|identify}?data=<base64(url) JSON>`: always a GIF,
 * whatever the payload, so a broken pixel never shows as a broken image.
 * The pixel route is open to anyone, so the order matters: the per-address
 * limit first (over it: nothing is written at all), then the write key; a
 * request without a valid one is counted and only sampled, while a keyed
 * sender's rejections are all quarantined.
 */
ingestRoutes.get("/v1/pixel/:type", openCors, async (c) => {
  const type = c.req.param("type") as MessageType;
  const data = c.req.query("data") ?? "";
  const receivedAt = Date.now();
  const db = warehouseDb(c.env.WAREHOUSE);
  const source = `pixel/${type}`;
  const policy = settingsOf(c.env).quarantine;
  try {
    // A flood of pixels from one address still gets GIFs; it is just not recorded.
    if (await overLimit(c.env.INGEST_LIMITER, `pixel:${clientAddress(c)}`))
      return c.body(TRANSPARENT_GIF, 200, GIF_HEADERS);
    const decoded = data.length <= MAX_PIXEL_DATA ? base64Decode(data) : null;
    const message = decoded ? parsePixelJson(decoded) : undefined;
    const { writeKey, ...rest } = isPlainObject(message) ? message : {};
    // Either kind of write key: a pixel URL is public whatever key it carries, so its identity claims are a browser's.
    const keyed =
      isPlainObject(message) && (await writeKeyClass(typeof writeKey === "string" ? writeKey : null, c.env)) !== null;
    if (!keyed) {
      const unauthenticated = (code: RejectionCode, reason: string, payload: unknown) =>
        recordUnauthenticated(db, { source, code, reason, index: null, payload }, receivedAt, policy);
      if (!PIXEL_TYPES.has(type)) {
        await unauthenticated("unknown_pixel_type", unknownPixelType(type), data);
      } else if (!isPlainObject(message)) {
        await unauthenticated(
          data.length > MAX_PIXEL_DATA ? "oversize" : "invalid_pixel_data",
          data.length > MAX_PIXEL_DATA
            ? `data is ${data.length} characters; the limit is ${MAX_PIXEL_DATA}`
            : "data must be base64 or base64url of a JSON object",
          data,
        );
      } else {
        await unauthenticated(
          "invalid_write_key",
          writeKey ? "write key is not valid" : "pixel data needs a write key (writeKey)",
          rest,
        );
      }
    } else if (!PIXEL_TYPES.has(type)) {
      const rejection = { source, code: "unknown_pixel_type" as const, reason: unknownPixelType(type), index: null };
      await quarantine(db, [{ ...rejection, payload: rest }], receivedAt, policy);
    } else {
      await ingestMessages(c.env, (p) => c.executionCtx.waitUntil(p), [rest], {
        source,
        trust: "browser",
        impliedType: type,
        receivedAt,
        client: clientOf(c.req, c.env),
      });
    }
  } catch (err) {
    // The beacon still gets its GIF; the failure is visible in the logs.
    console.error(JSON.stringify({ msg: "pixel ingest failed", type, error: String(err) }));
  }
  return c.body(TRANSPARENT_GIF, 200, GIF_HEADERS);
});

function unknownPixelType(type: string): string {
  return `unknown pixel type "${type.slice(0, 40)}"; use /v1/pixel/track, /v1/pixel/page or /v1/pixel/identify`;
}
