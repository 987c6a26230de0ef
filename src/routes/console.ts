/**
 * The operator console (DESIGN §10): `GET /` and its two files, served by
 * this Worker from text modules (wrangler's Text rule), so it is the same
 * page under `npm run dev`, `npm start` and `wrangler deploy` with no build
 * step and no assets binding. The page signs in with an API key and calls
 * only the public API (src/console/app.js).
 *
 * Served under a strict Content-Security-Policy: scripts, styles and
 * requests to this origin only, no inline script or style, no framing.
 */
import { Hono } from "hono";
import appSource from "../console/app.js";
import stylesheet from "../console/console.css";
import page from "../console/index.html";
import type { AppEnv } from "./app-env";

export const consoleRoutes = new Hono<AppEnv>();

const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  // Revalidated each time: a new deployment's console is used at once.
  "cache-control": "no-cache",
};

const FILES: Record<string, { body: string; type: string }> = {
  "/": { body: page, type: "text/html; charset=utf-8" },
  "/console/app.js": { body: appSource, type: "text/javascript; charset=utf-8" },
  "/console/console.css": { body: stylesheet, type: "text/css; charset=utf-8" },
};

for (const [path, file] of Object.entries(FILES)) {
  consoleRoutes.get(path, (c) => c.body(file.body, 200, { ...SECURITY_HEADERS, "content-type": file.type }));
}
