/**
 * Optional Kafka sink through the Confluent REST Proxy v3 produce API
 * (`POST {base}/clusters/{cluster_id}/topics/{topic}/records`, streaming
 * mode: several records in one request, one result object per record). Every
 * change record is produced keyed by its profile id, so one person's changes
 * stay in one partition, in order.
 *
 * The proxy answers HTTP 200 even when records fail: each result carries its
 * own `error_code`, and any code other than 200 fails the whole delivery so
 * the Queue retries it (Kafka delivery is at-least-once; readers dedupe on
 * the record's `event.messageId` or `(profileId, version, kind)`).
 *
 * Upstash Kafka, once the usual HTTP-to-Kafka route from Workers, was shut
 * down in March 2025; any Confluent-compatible REST proxy works here.
 */
import type { ChangeRecord } from "../model/changes";

export interface KafkaConfig {
  url: string;
  clusterId: string;
  topic: string;
  authorization: string | null;
}

export function kafkaConfig(env: {
  KAFKA_REST_URL?: string;
  KAFKA_CLUSTER_ID?: string;
  KAFKA_TOPIC?: string;
  KAFKA_API_KEY?: string;
  KAFKA_API_SECRET?: string;
}): KafkaConfig | null {
  if (!env.KAFKA_REST_URL || !env.KAFKA_CLUSTER_ID || !env.KAFKA_TOPIC) return null;
  return {
    url: env.KAFKA_REST_URL.replace(/\/+$/, ""),
    clusterId: env.KAFKA_CLUSTER_ID,
    topic: env.KAFKA_TOPIC,
    authorization: env.KAFKA_API_KEY ? `Basic ${btoa(`${env.KAFKA_API_KEY}:${env.KAFKA_API_SECRET ?? ""}`)}` : null,
  };
}

/**
 * `{KAFKA_REST_URL}/clusters/{cluster_id}/topics/{topic}/records`; the URL is
 * the proxy's v3 base, e.g. `https://pkc-….confluent.cloud/kafka/v3`.
 */
export function produceUrl(c: KafkaConfig): string {
  return `${c.url}/clusters/${encodeURIComponent(c.clusterId)}/topics/${encodeURIComponent(c.topic)}/records`;
}

/**
 * Splits a stream of concatenated JSON objects (`{…}{…}` or one per line)
 * into the objects, tracking strings so braces inside them do not count.
 */
export function splitJsonObjects(text: string): unknown[] {
  const out: unknown[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === "\\") i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === "{") {
      if (depth === 0) start = i;
      depth++;
    } else if (ch === "}") {
      depth--;
      if (depth === 0 && start >= 0) {
        out.push(JSON.parse(text.slice(start, i + 1)));
        start = -1;
      }
    }
  }
  return out;
}

export class KafkaProduceError extends Error {}

/** Produces `records` in one streaming request; throws unless every record was acknowledged. */
export function produceToKafka(c: KafkaConfig, records: readonly ChangeRecord[]): Promise<number> {
  return produceLines(
    c,
    records.map((r) =>
      JSON.stringify({ key: { type: "STRING", data: r.profileId }, value: { type: "JSON", data: r } }),
    ),
  );
}

/**
 * Produces a tombstone (a key with no value) per erased profile: on a
 * compacted topic the broker then drops every earlier record under that key,
 * and consumers holding copies see the deletion.
 */
export function produceTombstones(c: KafkaConfig, profileIds: readonly string[]): Promise<number> {
  return produceLines(
    c,
    profileIds.map((id) => JSON.stringify({ key: { type: "STRING", data: id } })),
  );
}

async function produceLines(c: KafkaConfig, lines: readonly string[]): Promise<number> {
  const records = lines;
  if (records.length === 0) return 0;
  const body = records.join("\n");
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (c.authorization) headers.authorization = c.authorization;
  // Streaming mode wants a chunked body: a stream with no declared length is sent that way.
  const res = await fetch(produceUrl(c), { method: "POST", headers, body: new Blob([body]).stream() });
  const text = await res.text();
  if (!res.ok) throw new KafkaProduceError(`Kafka REST proxy answered ${res.status}: ${text.slice(0, 200)}`);
  let results: unknown[];
  try {
    results = splitJsonObjects(text);
  } catch {
    throw new KafkaProduceError(`Kafka REST proxy answered unreadable JSON: ${text.slice(0, 200)}`);
  }
  const failed = results.filter((r) => (r as { error_code?: unknown }).error_code !== 200);
  if (results.length !== records.length || failed.length > 0) {
    const first = failed[0] as { error_code?: unknown; message?: unknown } | undefined;
    throw new KafkaProduceError(
      `Kafka accepted ${results.length - failed.length} of ${records.length} records` +
        (first ? ` (first failure: ${String(first.error_code)} ${String(first.message ?? "")})` : ""),
    );
  }
  return records.length;
}
