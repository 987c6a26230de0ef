import { startEspWebhookMock } from "./test/runtime/audiences/esp-webhook-mock.mjs";
import { runtimeConfig } from "./vitest.runtime.mjs";

/**
 * Audiences end to end inside the runtime: change records are sent as they
 * are written (`SINK_FLUSH_MS=0`) through the real Queue consumer, actors'
 * alarms fire on their own (audiences that change by time alone, webhook
 * retries from a fifth of a second apart, four attempts), and webhook destinations are a local
 * stand-in for an ESP (test/runtime/audiences/esp-webhook-mock.mjs).
 */
const esp = await startEspWebhookMock();

export default runtimeConfig({
  include: ["test/runtime/audiences/**/*.test.ts"],
  ratelimits: { ingest: 1_000_000, read: 1_000_000 },
  bindings: {
    SINK_FLUSH_MS: "0",
    AUDIENCE_WEBHOOK_RETRY_SECONDS: "0.2",
    AUDIENCE_WEBHOOK_ATTEMPTS: "4",
    TEST_ESP_URL: esp.url,
  },
  testTimeout: 300_000,
});
