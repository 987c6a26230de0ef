/**
 * The optional Kafka sink against a PROTOCOL DOUBLE of the Confluent REST
 * Proxy v3 produce API: no Kafka broker or REST proxy is reachable from this
 * machine, so a small local HTTP server stands in for one. It implements only
 * the documented request and response shape of
 * `POST /v3/clusters/{cluster_id}/topics/{topic}/records` in streaming mode
 * (one JSON record per line in, one result object per record out, HTTP 200
 * even when a record fails), and fails one record on purpose to show the
 * sink reads each `error_code` and retries.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalServer } from "../../scripts/local-server.mjs";
import { postBatch, sinkStatus, waitFor } from "./sink-client";

interface ProducedRecord {
  key: { type: string; data: string };
  value: { type: string; data: { kind: string; profileId: string; version: number; event?: { messageId: string } } };
}

/** A Confluent REST Proxy v3 stand-in that records what it was sent (a protocol double, not Kafka). */
class RestProxyProtocolDouble {
  readonly accepted: ProducedRecord[] = [];
  readonly requests: { path: string; authorization: string | undefined; lines: number }[] = [];
  failedOnce: string | null = null;
  private server: Server | null = null;
  private offset = 0;

  constructor(private readonly failMessageId: string) {}

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}/kafka/v3`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const match = /^\/kafka\/v3\/clusters\/([^/]+)\/topics\/([^/]+)\/records$/.exec(req.url ?? "");
    if (req.method !== "POST" || !match) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ error_code: 404, message: "HTTP 404 Not Found" }));
      return;
    }
    const lines = Buffer.concat(chunks).toString("utf8").split("\n").filter(Boolean);
    this.requests.push({ path: req.url ?? "", authorization: req.headers.authorization, lines: lines.length });
    const results = lines.map((line) => {
      const record = JSON.parse(line) as ProducedRecord;
      const messageId = record.value.data.event?.messageId;
      if (messageId === this.failMessageId && this.failedOnce === null) {
        this.failedOnce = messageId;
        return { error_code: 50302, message: "Leader not available" };
      }
      this.accepted.push(record);
      return {
        error_code: 200,
        cluster_id: match[1],
        topic_name: match[2],
        partition_id: 0,
        offset: this.offset++,
        timestamp: new Date().toISOString(),
        key: { type: "STRING", size: record.key.data.length },
        value: { type: "JSON", size: JSON.stringify(record.value.data).length },
      };
    });
    res.writeHead(200, { "content-type": "application/json" });
    res.end(results.map((r) => JSON.stringify(r)).join("\n"));
  }
}

describe("the Kafka sink through a Confluent REST v3 protocol double", () => {
  const proxy = new RestProxyProtocolDouble("kafka-person-1-2");
  let server: Awaited<ReturnType<typeof startLocalServer>>;

  beforeAll(async () => {
    const url = await proxy.start();
    server = await startLocalServer({
      vars: {
        KAFKA_REST_URL: url,
        KAFKA_CLUSTER_ID: "lkc-test",
        KAFKA_TOPIC: "profile-changes",
        KAFKA_API_KEY: "key",
        KAFKA_API_SECRET: "secret",
      },
    });
  });

  afterAll(async () => {
    await server?.stop();
    await proxy.stop();
  });

  it("produces every change keyed by its profile, and retries a record the proxy failed", async () => {
    const batch = Array.from({ length: 3 }, (_, p) =>
      Array.from({ length: 4 }, (_, i) => ({
        type: "track",
        userId: `kafka-person-${p}`,
        messageId: `kafka-person-${p}-${i}`,
        event: "Product Viewed",
        properties: { product_id: `sku-00${i + 1}`, category: "Running Shoes" },
      })),
    ).flat();
    const res = await postBatch(server.url, batch);
    expect(res.status).toBe(200);
    expect((await sinkStatus(server.url)).kafka.enabled).toBe(true);

    const wanted = new Set(batch.map((e) => e.messageId));
    await waitFor(
      async () => new Set(proxy.accepted.map((r) => r.value.data.event?.messageId).filter(Boolean)),
      (got) => [...wanted].every((id) => got.has(id)),
      "every event record accepted by the proxy",
      60_000,
    );
    expect(proxy.failedOnce).toBe("kafka-person-1-2");
    // Streaming mode: several records per request, on the documented path, with Basic credentials.
    expect(proxy.requests.every((r) => r.path === "/kafka/v3/clusters/lkc-test/topics/profile-changes/records")).toBe(
      true,
    );
    expect(proxy.requests.some((r) => r.lines > 1)).toBe(true);
    expect(proxy.requests[0]?.authorization).toBe(`Basic ${Buffer.from("key:secret").toString("base64")}`);
    for (const r of proxy.accepted) {
      expect(r.key).toEqual({ type: "STRING", data: r.value.data.profileId });
      expect(r.value.type).toBe("JSON");
    }
    // Profile, session and affinity changes travel too.
    expect(new Set(proxy.accepted.map((r) => r.value.data.kind))).toEqual(
      new Set(["event", "profile", "session", "affinity"]),
    );
    // The warehouse took the events once, whatever Kafka's retry resent.
    const status = await waitFor(
      () => sinkStatus(server.url),
      (s) => s.tables.events === batch.length,
      "the events in D1",
    );
    expect(status.tables.dead_letters).toBe(0);
  });
});
