import { runtimeConfig } from "./vitest.runtime.mjs";

/**
 * Experiments end to end inside the runtime: change records are sent as they
 * are written (`SINK_FLUSH_MS=0`), so exposures, opens, clicks and
 * conversions reach D1 through the real Queue consumer and the results are
 * read back from the warehouse, as in production.
 */
export default runtimeConfig({
  include: ["test/runtime/experiments/**/*.test.ts"],
  ratelimits: { ingest: 1_000_000, read: 1_000_000 },
  bindings: { SINK_FLUSH_MS: "0" },
  testTimeout: 120_000,
});
