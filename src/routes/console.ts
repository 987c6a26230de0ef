/**
 * The operator console (DESIGN §10): `GET /` and its files, served by this
 * Worker from text modules (wrangler's Text rule), so it is the same page
 * under `npm run dev`, `npm start` and `wrangler deploy` with no build step
 * and no assets binding. The page signs in with an API key and calls only
 * the public API (src/console/app.js); each page is its own module under
 * src/console/pages/. Charts are drawn by uPlot, served from its package.
 *
 * Served under a strict Content-Security-Policy: scripts, styles and
 * requests to this origin only, no inline script or style, no framing.
 */
import { Hono } from "hono";
import uPlotSource from "uplot/dist/uPlot.iife.min.js";
import uPlotStyles from "uplot/dist/uPlot.min.css";
import appSource from "../console/app.js";
import stylesheet from "../console/console.css";
import page from "../console/index.html";
import libSource from "../console/lib.js";
import audiencesPage from "../console/pages/audiences.js";
import catalogPage from "../console/pages/catalog.js";
import experimentsPage from "../console/pages/experiments.js";
import liftChartModule from "../console/pages/lift-chart.js";
import mergePreviewModule from "../console/pages/merge-preview.js";
import overviewPage from "../console/pages/overview.js";
import peoplePage from "../console/pages/people.js";
import privacyPage from "../console/pages/privacy.js";
import qualityPage from "../console/pages/quality.js";
import quarantinePage from "../console/pages/quarantine.js";
import sessionTimelineModule from "../console/pages/session-timeline.js";
import previewPage from "../console/preview.html";
import type { AppEnv } from "./app-env";

export const consoleRoutes = new Hono<AppEnv>();

const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
    "frame-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  // Revalidated each time: a new deployment's console is used at once.
  "cache-control": "no-cache",
};

const JS = "text/javascript; charset=utf-8";
const CSS = "text/css; charset=utf-8";

const FILES: Record<string, { body: string; type: string }> = {
  "/": { body: page, type: "text/html; charset=utf-8" },
  "/console/app.js": { body: appSource, type: JS },
  "/console/lib.js": { body: libSource, type: JS },
  "/console/pages/overview.js": { body: overviewPage, type: JS },
  "/console/pages/people.js": { body: peoplePage, type: JS },
  "/console/pages/merge-preview.js": { body: mergePreviewModule, type: JS },
  "/console/pages/session-timeline.js": { body: sessionTimelineModule, type: JS },
  "/console/pages/experiments.js": { body: experimentsPage, type: JS },
  "/console/pages/lift-chart.js": { body: liftChartModule, type: JS },
  "/console/pages/audiences.js": { body: audiencesPage, type: JS },
  "/console/pages/quality.js": { body: qualityPage, type: JS },
  "/console/pages/quarantine.js": { body: quarantinePage, type: JS },
  "/console/pages/catalog.js": { body: catalogPage, type: JS },
  "/console/pages/privacy.js": { body: privacyPage, type: JS },
  "/console/console.css": { body: stylesheet, type: CSS },
  "/console/uplot.js": { body: uPlotSource, type: JS },
  "/console/uplot.css": { body: uPlotStyles, type: CSS },
};

/**
 * The frame the People page draws a person's merge block in, as an ESP
 * would: e-mail HTML needs inline styles and remote images, so this page
 * (and only this one) allows them; it runs no script at all, and only the
 * console may frame it.
 */
const PREVIEW_HEADERS = {
  ...SECURITY_HEADERS,
  "content-security-policy":
    "default-src 'none'; style-src 'unsafe-inline'; img-src http: https: data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'",
  "content-type": "text/html; charset=utf-8",
};
consoleRoutes.get("/console/preview.html", (c) => c.body(previewPage, 200, PREVIEW_HEADERS));

for (const [path, file] of Object.entries(FILES)) {
  consoleRoutes.get(path, (c) => c.body(file.body, 200, { ...SECURITY_HEADERS, "content-type": file.type }));
}
