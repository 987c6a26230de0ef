/** Worker entry point: the HTTP app and the ProfileActor Durable Object class. */
import { app } from "./app";
import type { Env } from "./env";

export { ProfileActor } from "./actors/profile-actor";

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
