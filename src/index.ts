/**
 * Worker entry point: the HTTP app, the Queue consumers (sink, dead letters,
 * regulations), the Cron Trigger that resumes unfinished regulations, and the
 * ProfileActor Durable Object class.
 */
import { app } from "./app";
import type { Env } from "./env";
import { resumeRegulations } from "./privacy/regulation-resume";
import { handleQueue } from "./sink/consumer";

export { EmailDirectory } from "./actors/email-directory";
export { ProfileActor } from "./actors/profile-actor";
export { SinkBuffer } from "./actors/sink-buffer";

export default {
  fetch: app.fetch,
  queue: handleQueue,
  // `[triggers] crons` in wrangler.toml: every minute, regulations whose jobs were lost are queued again.
  async scheduled(controller, env) {
    await resumeRegulations(env, controller.scheduledTime);
  },
} satisfies ExportedHandler<Env>;
