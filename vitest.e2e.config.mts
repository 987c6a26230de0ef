import { defineConfig } from "vitest/config";

/** End-to-end: a real `wrangler dev` driven over HTTP by real client libraries. */
export default defineConfig({
  test: {
    include: ["test/e2e/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Each file starts its own server; two at once would fight over two cores.
    fileParallelism: false,
  },
});
