/** Worker entry point: the HTTP app, the sink's Queue consumer and the ProfileActor Durable Object class. */
import { app } from "./app";
import type { Env } from "./env";

import { handleQueue } from "./sink/consumer";

export { EmailDirectory } from "./actors/email-directory";
export { ProfileActor } from "./actors/profile-actor";

export default {
  fetch: app.fetch,
  queue: handleQueue,
} satisfies ExportedHandler<Env>;
