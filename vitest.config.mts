import { runtimeConfig } from "./vitest.runtime.mjs";

/** The in-runtime suite; the abuse-limit tests run on their own (vitest.limits.config.mts). */
export default runtimeConfig({
  include: ["test/runtime/**/*.test.ts"],
  exclude: [
    "test/runtime/limits.test.ts",
    "test/runtime/self-hosted.test.ts",
    "test/runtime/experiments/**",
    "test/runtime/audiences/**",
  ],
  ratelimits: { ingest: 1_000_000, read: 1_000_000 },
});
