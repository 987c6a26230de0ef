/**
 * The Worker's HTTP edge: one Hono app assembling the route modules in the
 * order data flows — the browser tracker, ingestion, profile reads and merge tags, the email loop,
 * the catalog, the sink's operator view — with one error shape for all of them.
 */
import { Hono } from "hono";
import type { AppEnv } from "./routes/app-env";
import { audienceRoutes } from "./routes/audiences";
import { browserRoutes } from "./routes/browser";
import { catalogRoutes } from "./routes/catalog";
import { computedTraitRoutes } from "./routes/computed-traits";
import { emailRoutes } from "./routes/email";
import { notFound, onError } from "./routes/errors";
import { experimentRoutes } from "./routes/experiments";
import { identityRoutes } from "./routes/identity";
import { ingestRoutes } from "./routes/ingest";
import { mergeRoutes } from "./routes/merge";
import { openApiDocument } from "./routes/openapi";
import { privacyRoutes } from "./routes/privacy";
import { profileRoutes } from "./routes/profiles";
import { quarantineRoutes } from "./routes/quarantine";
import { sinkRoutes } from "./routes/sink";
import { trackingPlanRoutes } from "./routes/tracking-plan";

export const app = new Hono<AppEnv>();

app.get("/healthz", (c) => c.json({ status: "ok" }));
app.get("/openapi.json", (c) => c.json(openApiDocument()));
app.route("/", browserRoutes);
app.route("/", ingestRoutes);
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
app.notFound(notFound);
app.onError(onError);
