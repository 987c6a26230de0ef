import { runtimeConfig } from "./vitest.runtime.mjs";

/**
 * `npm start`'s self-hosted tuning: records sent as they are written, through
 * the sink buffers, and every actor released as soon as the edge is done with
 * it (a live limit of 0).
 */
export default runtimeConfig({
  include: ["test/runtime/self-hosted.test.ts"],
  ratelimits: { ingest: 100_000, read: 100_000 },
  bindings: { SINK_FLUSH_MS: "0", SINK_COALESCE_MS: "250", ACTOR_IDLE_RELEASE_MS: "2000", ACTOR_LIVE_LIMIT: "0" },
});
