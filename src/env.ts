/** Bindings and variables the Worker and its actors receive (wrangler.toml, .dev.vars). */
import type { EmailDirectory } from "./actors/email-directory";
import type { ProfileActor } from "./actors/profile-actor";
import type { SinkBuffer } from "./actors/sink-buffer";
import type { SettingsSource } from "./model/settings";

export interface Env extends SettingsSource {
  PROFILES: DurableObjectNamespace<ProfileActor>;
  WAREHOUSE: D1Database;
  /** Change records from the actors' outboxes to the sink consumer (text bodies: `ChangeMessage` JSON). */
  SINK_QUEUE: Queue<string>;
  /** Bundles many actors' outbox runs into each Queue message, when `SINK_COALESCE_MS` is set. */
  SINK_BUFFER: DurableObjectNamespace<SinkBuffer>;
  /** Regulation jobs (GDPR/CCPA erasure and suppression), carried out by their own consumer. */
  REGULATION_QUEUE: Queue<string>;
  /** Audience backfills: pages of the warehouse's profiles, each evaluated in its actors. */
  AUDIENCE_QUEUE: Queue<string>;
  /** The raw event lake (NDJSON, Hive-style partitions). */
  LAKE: R2Bucket;
  /** Abuse limits (Workers Rate Limiting): ingestion per write key and address, reads per API key. */
  INGEST_LIMITER?: RateLimit;
  READ_LIMITER?: RateLimit;
  /** The e-mail identifier directory: one small actor per address hash (`email:<sha256>`). */
  DIRECTORY: DurableObjectNamespace<EmailDirectory>;
  /** Comma-separated server write keys (trusted sources: the shop's servers, server SDKs). */
  WRITE_KEYS?: string;
  /** Comma-separated browser write keys (public: web pages, pixels, `/t.js`); their identity claims are checked. */
  BROWSER_WRITE_KEYS?: string;
  /** Comma-separated secrets for identity verification (HMAC-SHA256 of a user id); the first is current, all verify. */
  IDENTITY_VERIFICATION_SECRET?: string;
  /** Comma-separated secret API keys for reads and the catalog. */
  API_KEYS?: string;
  /** Comma-separated keys a metrics scraper sends as Bearer to `GET /metrics` (nothing else accepts them). */
  METRICS_KEYS?: string;
  /** Comma-separated Slack-compatible incoming-webhook URLs: one `{ text }` per incident opened and resolved. */
  ALERT_WEBHOOK_URLS?: string;
  /** Sink lag (seconds) above which an alert incident opens; default 300. */
  ALERT_SINK_LAG_SECONDS?: string;
  /** Quality-check runs, one per message, carried out by their own consumer. */
  QUALITY_QUEUE: Queue<string>;
  /** Comma-separated keys an ESP may put in the merge URL (`?key=`, HTML block only) when it cannot send headers. */
  MERGE_KEYS?: string;
  /** Comma-separated secrets email links are sealed with (the first seals, all verify). */
  LINK_SIGNING_SECRET?: string;
  /** Absolute origin used in emailed links when requests arrive on another host. */
  PUBLIC_BASE_URL?: string;
  /**
   * Self-hosted behind a reverse proxy: the header that proxy sets to the
   * client's address (e.g. `X-Forwarded-For`, whose last entry is taken).
   * Unset (the default, and on Cloudflare): `CF-Connecting-IP`.
   */
  CLIENT_ADDRESS_HEADER?: string;
  /** Optional Kafka sink through a Confluent REST Proxy v3 (URL, cluster id and topic enable it). */
  KAFKA_REST_URL?: string;
  KAFKA_CLUSTER_ID?: string;
  KAFKA_TOPIC?: string;
  /** HTTP Basic credentials for the REST proxy (a Confluent Cloud API key and secret), when it needs them. */
  KAFKA_API_KEY?: string;
  KAFKA_API_SECRET?: string;
}
