/**
 * The Worker's HTTP edge: one Hono app assembling the route modules in the
 * order data flows — the browser tracker, ingestion, profile reads and merge tags, the email loop,
 * the catalog, the sink's operator view — with one error shape for all of them.
 */
import { Hono } from "hono";
import { routeFamily, statusClass } from "./model/route-families";
import { countMetric, maybeFlushMetrics, observeDuration } from "./observability/metrics-recorder";
import type { AppEnv } from "./routes/app-env";
import { audienceRoutes } from "./routes/audiences";
import { browserRoutes } from "./routes/browser";
import { catalogRoutes } from "./routes/catalog";
import { computedTraitRoutes } from "./routes/computed-traits";
import { consoleRoutes } from "./routes/console";
import { emailRoutes } from "./routes/email";
import { notFound, onError } from "./routes/errors";
import { experimentRoutes } from "./routes/experiments";
import { identityRoutes } from "./routes/identity";
import { ingestRoutes } from "./routes/ingest";
import { mergeRoutes } from "./routes/merge";
import { metricsRoutes } from "./routes/metrics";
import { openApiDocument } from "./routes/openapi";
import { privacyRoutes } from "./routes/privacy";
import { profileMergeRoutes } from "./routes/profile-merge";
import { profileSearchRoutes } from "./routes/profile-search";
import { profileRoutes } from "./routes/profiles";
import { qualityRoutes } from "./routes/quality";
import { quarantineRoutes } from "./routes/quarantine";
import { sinkRoutes } from "./routes/sink";
import { trackingPlanRoutes } from "./routes/tracking-plan";

export const app = new Hono<AppEnv>();

// Before the metrics middleware: the runtime floor that benchmarks compare against stays bare.
app.get("/healthz", (c) => c.json({ status: "ok" }));

/**
 * Every request's latency by route family and status class, and each
 * answer that turned a sender away for overload; the isolate's counts go
 * to D1 every few seconds (observability/metrics-recorder.ts).
 */
app.use("*", async (c, next) => {
  const started = Date.now();
  await next();
  const family = routeFamily(c.req.path);
  const status = c.res.status;
  observeDuration(
    "http_request_duration_seconds",
    { family, code: statusClass(status) },
    (Date.now() - started) / 1000,
  );
  if (status === 503 || status === 429) countMetric("requests_overloaded_total", { family, status: String(status) });
  maybeFlushMetrics(c.env.WAREHOUSE, (p) => c.executionCtx.waitUntil(p));
});

app.get("/openapi.json", (c) => c.json(openApiDocument()));
app.route("/", metricsRoutes);
app.route("/", browserRoutes);
app.route("/", ingestRoutes);
app.route("/", profileMergeRoutes);
app.route("/", profileSearchRoutes);
app.route("/", profileRoutes);
app.route("/", privacyRoutes);
app.route("/", identityRoutes);
app.route("/", mergeRoutes);
app.route("/", emailRoutes);
app.route("/", catalogRoutes);
app.route("/", experimentRoutes);
app.route("/", computedTraitRoutes);
app.route("/", audienceRoutes);
app.route("/", sinkRoutes);
app.route("/", quarantineRoutes);
app.route("/", trackingPlanRoutes);
app.route("/", qualityRoutes);
app.route("/", consoleRoutes);
app.notFound(notFound);
app.onError(onError);
