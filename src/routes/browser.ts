/**
 * What a shop's pages load (DESIGN §2.1): `GET /t.js`, the first-party
 * tracker, and `GET /v1/projects/:writeKey/settings`, the settings document
 * Segment's analytics.js (`@segment/analytics-next`) fetches from its CDN, so
 * that library pointed here with `cdnURL` sends its events here unmodified.
 */
import { Hono } from "hono";
import { cors } from "hono/cors";
import trackerSource from "../browser/tracker.js";
import { type AppEnv, publicOrigin } from "./app-env";
import { writeKeyClass } from "./auth";
import { ApiError } from "./errors";

export const browserRoutes = new Hono<AppEnv>();

/**
 * A server write key in a web page is a leak: anyone reading the page could
 * make trusted identity claims with it. Pages get a browser key.
 */
function serverKeyInPage(): never {
  throw new ApiError(
    400,
    "server_key_in_browser",
    "this is a server write key (WRITE_KEYS), which must never appear in a web page: anyone could read it there — use a browser write key (BROWSER_WRITE_KEYS) in pages, pixels and /t.js, and rotate this server key if the page was published",
  );
}

const publicAsset = cors({ origin: "*", allowMethods: ["GET"], maxAge: 86_400 });
/** Pages pick up a new tracker within five minutes; browsers revalidate with the ETag. */
const CACHE_CONTROL = "public, max-age=300";

/**
 * The source without its indentation and whole-line comments (the `/*!`
 * banner stays): what every page view downloads. Line breaks are kept, so
 * the script means exactly what the source says.
 */
function compact(source: string): string {
  return source
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith("//") && !(line.startsWith("/**") && line.endsWith("*/")))
    .join("\n");
}

let served: Promise<{ body: string; etag: string }> | null = null;

function tracker(): Promise<{ body: string; etag: string }> {
  served ??= (async () => {
    const body = compact(trackerSource);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(body)));
    return { body, etag: `"${[...digest.slice(0, 12)].map((b) => b.toString(16).padStart(2, "0")).join("")}"` };
  })();
  return served;
}

browserRoutes.get("/t.js", publicAsset, async (c) => {
  // The loader names its key in the script URL (`/t.js?writeKey=`); a server key there is refused.
  const named = c.req.query("writeKey");
  if (named && (await writeKeyClass(named, c.env)) === "server") serverKeyInPage();
  const { body, etag } = await tracker();
  const headers = { "content-type": "text/javascript; charset=utf-8", "cache-control": CACHE_CONTROL, etag };
  if (c.req.header("if-none-match") === etag) return c.body(null, 304, headers);
  return c.body(body, 200, headers);
});

/**
 * The shape analytics-next reads (its `LegacySettings`): the Segment.io
 * destination's `apiHost` (host and path, no scheme) and `protocol` say where
 * events go; no other destinations, middleware or remote plugins are loaded,
 * and the library's own telemetry is off (`metrics.sampleRate` 0).
 */
function analyticsSettings(writeKey: string, origin: URL) {
  return {
    integrations: {
      "Segment.io": {
        apiKey: writeKey,
        apiHost: `${origin.host}${origin.pathname.replace(/\/+$/, "")}/v1`,
        protocol: origin.protocol.replace(":", ""),
        unbundledIntegrations: [],
        addBundledMetadata: true,
        maybeBundledConfigIds: {},
      },
    },
    plan: { track: { __default: { enabled: true, integrations: {} } }, identify: { __default: { enabled: true } } },
    edgeFunction: {},
    analyticsNextEnabled: true,
    middlewareSettings: {},
    enabledMiddleware: {},
    metrics: { sampleRate: 0 },
    legacyVideoPluginsEnabled: false,
    remotePlugins: [],
  };
}

browserRoutes.get("/v1/projects/:writeKey/settings", publicAsset, async (c) => {
  const writeKey = c.req.param("writeKey");
  const keyClass = await writeKeyClass(writeKey, c.env);
  if (keyClass === "server") serverKeyInPage();
  if (!keyClass) {
    throw new ApiError(
      404,
      "unknown_write_key",
      "no source has this write key; use a browser write key from BROWSER_WRITE_KEYS",
    );
  }
  c.header("cache-control", CACHE_CONTROL);
  return c.json(analyticsSettings(writeKey, new URL(publicOrigin(c.env, c.req.url))));
});
