import { runtimeConfig } from "./vitest.runtime.mjs";

/** `npm run fuzz`: the property-based tests alone, with ten times the cases `npm test` runs. */
export default runtimeConfig({
  include: ["test/runtime/fuzz.test.ts"],
  ratelimits: { ingest: 1_000_000, read: 1_000_000 },
  bindings: { FUZZ_RUNS: process.env.FUZZ_RUNS ?? "10" },
});
