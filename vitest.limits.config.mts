import { runtimeConfig } from "./vitest.runtime.mjs";

/** The abuse-limit tests, alone, with budgets small enough to spend: 50 ingest requests and 100 reads per 10 s. */
export default runtimeConfig({
  include: ["test/runtime/limits.test.ts"],
  ratelimits: { ingest: 50, read: 100 },
});
