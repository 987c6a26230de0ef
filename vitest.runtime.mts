import { availableParallelism } from "node:os";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

/**
 * In-runtime tests: the Worker, its actors and D1 run in workerd through the
 * vitest pool, configured from wrangler.toml. D1 migrations are read here and
 * applied by test/runtime/setup.ts. Two runs share this: the suite, with
 * budgets no test reaches, and the abuse-limit tests alone, with budgets a
 * test can spend quickly (they count in fixed windows, so they are not run
 * beside a suite that would slow them past one).
 */
export function runtimeConfig(options: {
  include: string[];
  exclude?: string[];
  ratelimits: { ingest: number; read: number };
  bindings?: Record<string, string>;
  /** For files that drive thousands of requests (vitest's default is 5 s). */
  testTimeout?: number;
}) {
  return defineConfig(async () => {
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
              BROWSER_WRITE_KEYS: "test-browser-key",
              IDENTITY_VERIFICATION_SECRET: "test-identity-secret",
              API_KEYS: "test-api-key,test-api-key-old,test-api-key-limits",
              METRICS_KEYS: "test-metrics-key",
              MERGE_KEYS: "test-merge-key",
              LINK_SIGNING_SECRET: "test-link-secret",
              // Outbox alarms never fire on their own in tests: they run through runDurableObjectAlarm.
              SINK_FLUSH_MS: "3600000",
              ...options.bindings,
            },
            ratelimits: {
              INGEST_LIMITER: { simple: { limit: options.ratelimits.ingest, period: 10 } },
              READ_LIMITER: { simple: { limit: options.ratelimits.read, period: 10 } },
            },
          },
        }),
      ],
      test: {
        include: options.include,
        exclude: options.exclude ?? [],
        setupFiles: ["./test/runtime/setup.ts"],
        // A file per core (vitest's default leaves one core free: on two cores, one file at a time). Files share
        // nothing — each has its own storage — and most of a file's time is waiting on workerd.
        maxWorkers: availableParallelism(),
        ...(options.testTimeout ? { testTimeout: options.testTimeout } : {}),
      },
    };
  });
}
