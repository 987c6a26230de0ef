/**
 * Write keys and secret API keys (reads, catalog) from configuration, several
 * of each for rotation. Write keys come in two classes, as Segment's sources
 * do: server keys (`WRITE_KEYS`, held by the shop's servers and SDKs, trusted
 * with identity claims) and browser keys (`BROWSER_WRITE_KEYS`, public in
 * every web page, pixel and `/t.js`). Keys are compared as SHA-256
 * digests with a constant-time comparison; the digests of the configured
 * keys are computed once per isolate.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./app-env";
import { ApiError } from "./errors";
import { limitReads } from "./limits";

const encoder = new TextEncoder();
const digestCache = new Map<string, Promise<ArrayBuffer[]>>();

async function sha256(value: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", encoder.encode(value));
}

function configuredDigests(list: string | undefined): Promise<ArrayBuffer[]> {
  const raw = list ?? "";
  let cached = digestCache.get(raw);
  if (!cached) {
    const keys = raw
      .split(",")
      .map((k) => k.trim())
      .filter(Boolean);
    cached = Promise.all(keys.map(sha256));
    digestCache.set(raw, cached);
  }
  return cached;
}

/** True when `candidate` equals one of the comma-separated keys in `list`. */
export async function keyMatches(candidate: string | null | undefined, list: string | undefined): Promise<boolean> {
  if (!candidate) return false;
  const digests = await configuredDigests(list);
  if (digests.length === 0) return false;
  const given = await sha256(candidate);
  let match = false;
  // Compare against every key so the time taken does not reveal which one matched.
  for (const d of digests) match = crypto.subtle.timingSafeEqual(d, given) || match;
  return match;
}

/** Which class of source a write key belongs to, or null for no key of this service. */
export type WriteKeyClass = "server" | "browser";

export async function writeKeyClass(
  candidate: string | null | undefined,
  env: { WRITE_KEYS?: string; BROWSER_WRITE_KEYS?: string },
): Promise<WriteKeyClass | null> {
  if (await keyMatches(candidate, env.WRITE_KEYS)) return "server";
  if (await keyMatches(candidate, env.BROWSER_WRITE_KEYS)) return "browser";
  return null;
}

/** The user name of an HTTP Basic header (Segment sends the write key there, password empty). */
export function basicUser(header: string | undefined): string | null {
  if (!header?.startsWith("Basic ")) return null;
  try {
    const decoded = atob(header.slice(6).trim());
    const colon = decoded.indexOf(":");
    return colon === -1 ? decoded : decoded.slice(0, colon);
  } catch {
    return null;
  }
}

export function bearerToken(header: string | undefined): string | null {
  return header?.startsWith("Bearer ") ? header.slice(7).trim() : null;
}

/** Requires `Authorization: Bearer <api key>`, and keeps each key within its read limit. */
export function requireApiKey(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const token = bearerToken(c.req.header("authorization"));
    if (!token || !(await keyMatches(token, c.env.API_KEYS))) {
      throw new ApiError(
        401,
        "unauthorized",
        token ? "API key is not valid" : "missing API key; send Authorization: Bearer <api key>",
      );
    }
    await limitReads(c, token);
    await next();
  };
}

/**
 * The merge call's access: a Bearer API key, or — for ESPs whose fetch sends
 * no headers (Salesforce Marketing Cloud's `HTTPGet`) — `?key=` holding one
 * of `MERGE_KEYS`. A key in a URL ends up in logs, so it reads only what the
 * e-mail itself shows: the HTML block (`format=html`), never traits as JSON.
 */
export function requireMergeAccess(): MiddlewareHandler<AppEnv> {
  const apiKey = requireApiKey();
  return async (c, next) => {
    const queryKey = c.req.query("key");
    if (queryKey === undefined || c.req.header("authorization")) return apiKey(c, next);
    if (!(await keyMatches(queryKey, c.env.MERGE_KEYS))) {
      throw new ApiError(
        401,
        "unauthorized",
        "merge key is not valid; use one of MERGE_KEYS, or send Authorization: Bearer <api key>",
      );
    }
    if (c.req.query("format") !== "html") {
      throw new ApiError(
        401,
        "unauthorized",
        "a merge key in the URL reads only the HTML block: add format=html, or send Authorization: Bearer <api key> for JSON",
      );
    }
    await limitReads(c, queryKey);
    await next();
  };
}
