import { afterEach, describe, expect, it, vi } from "vitest";
import type { ChangeRecord } from "../../src/model/changes";
import {
  type KafkaConfig,
  KafkaProduceError,
  kafkaConfig,
  produceToKafka,
  produceUrl,
  splitJsonObjects,
} from "../../src/sink/kafka";
import { affinityChange, defined, eventChange, profileChange } from "./fixtures";

const ENV = {
  KAFKA_REST_URL: "https://pkc-1.example.confluent.cloud/kafka/v3",
  KAFKA_CLUSTER_ID: "lkc-1",
  KAFKA_TOPIC: "profile-changes",
};

describe("Kafka configuration", () => {
  it("is off unless the REST URL, the cluster id and the topic are all set", () => {
    expect(kafkaConfig({})).toBeNull();
    expect(kafkaConfig({ ...ENV, KAFKA_REST_URL: "" })).toBeNull();
    expect(kafkaConfig({ ...ENV, KAFKA_CLUSTER_ID: undefined })).toBeNull();
    expect(kafkaConfig({ ...ENV, KAFKA_TOPIC: "" })).toBeNull();
    expect(kafkaConfig(ENV)).toEqual({
      url: ENV.KAFKA_REST_URL,
      clusterId: "lkc-1",
      topic: "profile-changes",
      authorization: null,
    });
  });

  it("authorizes with HTTP Basic from the API key and secret", () => {
    const c = kafkaConfig({ ...ENV, KAFKA_API_KEY: "key", KAFKA_API_SECRET: "secret" });
    expect(c?.authorization).toBe("Basic a2V5OnNlY3JldA==");
  });

  it("trims trailing slashes from the REST URL", () => {
    expect(kafkaConfig({ ...ENV, KAFKA_REST_URL: `${ENV.KAFKA_REST_URL}//` })?.url).toBe(ENV.KAFKA_REST_URL);
  });

  it("produces to the topic's records endpoint under the cluster", () => {
    const c = defined(kafkaConfig(ENV) ?? undefined, "config");
    expect(produceUrl(c)).toBe(`${ENV.KAFKA_REST_URL}/clusters/lkc-1/topics/profile-changes/records`);
  });

  it("encodes the cluster id and topic in the URL", () => {
    const c = defined(kafkaConfig({ ...ENV, KAFKA_CLUSTER_ID: "lkc/1", KAFKA_TOPIC: "profile changes?" }) ?? undefined);
    expect(produceUrl(c)).toBe(`${ENV.KAFKA_REST_URL}/clusters/lkc%2F1/topics/profile%20changes%3F/records`);
  });
});

describe("splitting a streamed produce response", () => {
  it("splits concatenated objects", () => {
    expect(splitJsonObjects('{"a":1}{"b":{"c":2}}')).toEqual([{ a: 1 }, { b: { c: 2 } }]);
  });

  it("splits objects on separate lines, ignoring the whitespace between them", () => {
    expect(splitJsonObjects('{"a":1}\n  {"b":2}\r\n{"c":3}\n')).toEqual([{ a: 1 }, { b: 2 }, { c: 3 }]);
  });

  it("does not count braces or escaped quotes inside strings", () => {
    const objects = [{ s: "}{" }, { s: 'say "}" then "{"' }, { s: "ends in a backslash \\" }, { t: 1 }];
    expect(splitJsonObjects(objects.map((o) => JSON.stringify(o)).join(""))).toEqual(objects);
  });

  it("finds nothing in an empty response", () => {
    expect(splitJsonObjects("")).toEqual([]);
    expect(splitJsonObjects("\n")).toEqual([]);
  });
});

const CONFIG: KafkaConfig = {
  url: "https://proxy.example/kafka/v3",
  clusterId: "lkc-1",
  topic: "changes",
  authorization: "Basic a2V5OnNlY3JldA==",
};

/** One result object per record, as the REST proxy streams them. */
function results(...codes: number[]): string {
  return codes
    .map((error_code, offset) =>
      JSON.stringify(
        error_code === 200
          ? { error_code, cluster_id: "lkc-1", topic_name: "changes", partition_id: 0, offset }
          : { error_code, message: "Broker: Not enough in-sync replicas" },
      ),
    )
    .join("\n");
}

function stubProxy(body: string, status = 200) {
  const fetchMock = vi.fn<typeof fetch>(async () => new Response(body, { status }));
  vi.stubGlobal("fetch", fetchMock);
  return fetchMock;
}

/** The request the sink made; its body is a stream (streaming mode is sent chunked). */
async function sentRequest(fetchMock: ReturnType<typeof stubProxy>) {
  expect(fetchMock).toHaveBeenCalledTimes(1);
  const [url, init] = defined(fetchMock.mock.calls[0], "fetch call");
  const body = init?.body;
  if (!(body instanceof ReadableStream)) throw new Error("expected a streamed body");
  const text = await new Response(body).text();
  return { url: String(url), method: init?.method, headers: init?.headers, lines: text.split("\n") };
}

describe("producing change records to Kafka", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  const records: ChangeRecord[] = [
    eventChange({}, { profileId: "user_id:ada" }),
    profileChange({}, { profileId: "user_id:ada" }),
    affinityChange("brand:acme", 2, { profileId: "anonymous_id:x" }),
  ];

  it("resolves with the record count when every record is acknowledged", async () => {
    const fetchMock = stubProxy(results(200, 200, 200));
    await expect(produceToKafka(CONFIG, records)).resolves.toBe(3);
    const sent = await sentRequest(fetchMock);
    expect(sent.url).toBe("https://proxy.example/kafka/v3/clusters/lkc-1/topics/changes/records");
    expect(sent.method).toBe("POST");
    expect(sent.headers).toMatchObject({ "content-type": "application/json", authorization: CONFIG.authorization });
  });

  it("sends one JSON object per line, keyed by profile id, with the record as its JSON value", async () => {
    const fetchMock = stubProxy(results(200, 200, 200));
    await produceToKafka(CONFIG, records);
    expect((await sentRequest(fetchMock)).lines.map((line) => JSON.parse(line))).toEqual(
      records.map((r) => ({ key: { type: "STRING", data: r.profileId }, value: { type: "JSON", data: r } })),
    );
  });

  it("sends no authorization header when no API key is configured", async () => {
    const fetchMock = stubProxy(results(200, 200, 200));
    await produceToKafka({ ...CONFIG, authorization: null }, records);
    expect((await sentRequest(fetchMock)).headers).not.toHaveProperty("authorization");
  });

  it("rejects naming the failure when one record is not acknowledged", async () => {
    stubProxy(results(200, 500, 200));
    const produced = produceToKafka(CONFIG, records);
    await expect(produced).rejects.toBeInstanceOf(KafkaProduceError);
    await expect(produced).rejects.toThrow("Kafka accepted 2 of 3 records (first failure: 500 Broker: Not enough");
  });

  it("rejects when the proxy answers for fewer records than were sent", async () => {
    stubProxy(results(200, 200));
    await expect(produceToKafka(CONFIG, records)).rejects.toThrow("Kafka accepted 2 of 3 records");
  });

  it("rejects with the status when the proxy refuses the request", async () => {
    stubProxy('{"error_code":40101,"message":"Unauthorized"}', 401);
    await expect(produceToKafka(CONFIG, records)).rejects.toThrow(
      'Kafka REST proxy answered 401: {"error_code":40101,"message":"Unauthorized"}',
    );
  });

  it("rejects a response that is not JSON", async () => {
    stubProxy("{not json}");
    await expect(produceToKafka(CONFIG, records)).rejects.toThrow("unreadable JSON");
  });

  it("sends nothing for no records", async () => {
    const fetchMock = stubProxy(results());
    await expect(produceToKafka(CONFIG, [])).resolves.toBe(0);
    expect(fetchMock).not.toHaveBeenCalled();
  });
});
