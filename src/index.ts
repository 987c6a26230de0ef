/**
 * Worker entry point: the HTTP app, the Queue consumers (sink, dead letters,
 * regulations, audience backfills, quality runs), the Cron Triggers (resuming
 * unfinished regulations, checking the pipeline and sampling the metrics'
 * gauges every minute, a quality run every day), and the Durable Object classes.
 */
import { app } from "./app";
import type { Env } from "./env";
import { checkPipeline } from "./observability/alerts";
import { sampleGauges } from "./observability/metric-minutes";
import { resumeRegulations } from "./privacy/regulation-resume";
import { QUALITY_CRON, startRun } from "./quality/runs";
import { handleQueue } from "./sink/consumer";

export { EmailDirectory } from "./actors/email-directory";
export { ProfileActor } from "./actors/profile-actor";
export { SinkBuffer } from "./actors/sink-buffer";

export default {
  fetch: app.fetch,
  queue: handleQueue,
  // `[triggers] crons` in wrangler.toml: every minute, regulations whose jobs were lost are queued again and the
  // pipeline's alert conditions are checked and the gauges sampled for their history; once a day, a quality run.
  async scheduled(controller, env) {
    if (controller.cron === QUALITY_CRON) {
      await startRun(env, "cron", controller.scheduledTime);
      return;
    }
    const results = await Promise.allSettled([
      resumeRegulations(env, controller.scheduledTime),
      checkPipeline(env, controller.scheduledTime),
      sampleGauges(env.WAREHOUSE, controller.scheduledTime),
    ]);
    for (const r of results) if (r.status === "rejected") throw r.reason;
  },
} satisfies ExportedHandler<Env>;
