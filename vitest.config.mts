import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

/**
 * In-runtime tests: the Worker, its actors and D1 run in workerd through the
 * vitest pool, configured from wrangler.toml. D1 migrations are read here and
 * applied by test/runtime/setup.ts.
 */
export default defineConfig(async () => {
  const migrations = await readD1Migrations("./migrations");
  return {
    plugins: [
      cloudflareTest({
        main: "./src/index.ts",
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          bindings: {
            TEST_MIGRATIONS: migrations,
            WRITE_KEYS: "test-write-key,test-write-key-2",
            API_KEYS: "test-api-key,test-api-key-old,test-api-key-limits",
            MERGE_KEYS: "test-merge-key",
            LINK_SIGNING_SECRET: "test-link-secret",
            // Outbox alarms never fire on their own in tests: they run through runDurableObjectAlarm.
            SINK_FLUSH_MS: "3600000",
          },
          // Budgets small enough for a test to exceed; the helpers give each request its own address.
          ratelimits: {
            INGEST_LIMITER: { simple: { limit: 50, period: 10 } },
            READ_LIMITER: { simple: { limit: 300, period: 10 } },
          },
        },
      }),
    ],
    test: {
      include: ["test/runtime/**/*.test.ts"],
      setupFiles: ["./test/runtime/setup.ts"],
    },
  };
});
