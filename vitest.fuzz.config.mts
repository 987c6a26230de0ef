import { runtimeConfig } from "./vitest.runtime.mjs";

/** The property-based suites alone: one round of `npm run fuzz` (scripts/fuzz.mjs). */
export default runtimeConfig({
  include: ["test/runtime/fuzz/*.test.ts"],
  ratelimits: { ingest: 1_000_000, read: 1_000_000 },
});
