import { defineConfig } from "vitest/config";

/** Pure logic in src/model: plain Node, no runtime. */
export default defineConfig({
  test: {
    include: ["test/unit/**/*.test.ts"],
  },
});
