/**
 * What a shop's pages load: the tracker script, and the settings document
 * Segment's analytics.js fetches from its CDN, plus the short paths that
 * library posts to.
 */
import { describe, expect, it } from "vitest";
import { BROWSER_KEY, basic, call, readJson, uid, WRITE_KEY } from "./helpers";

async function gzippedBytes(text: string): Promise<number> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return (await new Response(stream).arrayBuffer()).byteLength;
}

describe("GET /t.js", () => {
  it("serves the tracker as cacheable JavaScript under 3 KB gzipped", async () => {
    const res = await call("/t.js");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(res.headers.get("cache-control")).toMatch(/max-age=\d+/);
    const source = await res.text();
    expect(source).toContain("edgeProfiles");
    expect(source).toContain("sendBeacon");
    expect(await gzippedBytes(source)).toBeLessThan(3 * 1024);
  });

  it("answers 304 when the browser already holds this version", async () => {
    const etag = (await call("/t.js")).headers.get("etag") ?? "";
    expect(etag).toMatch(/^"[0-9a-f]+"$/);
    const again = await call("/t.js", { headers: { "if-none-match": etag } });
    expect(again.status).toBe(304);
  });
});

describe("GET /v1/projects/:writeKey/settings", () => {
  it("points analytics.js's Segment.io destination at this service", async () => {
    const res = await call(`/v1/projects/${BROWSER_KEY}/settings`, { headers: { origin: "https://shop.example" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    const settings = (await res.json()) as {
      integrations: Record<string, { apiKey: string; apiHost: string; protocol: string }>;
      remotePlugins: unknown[];
    };
    expect(Object.keys(settings.integrations)).toEqual(["Segment.io"]);
    expect(settings.integrations["Segment.io"]).toMatchObject({
      apiKey: BROWSER_KEY,
      apiHost: "edge.test/v1",
      protocol: "http",
    });
    expect(settings.remotePlugins).toEqual([]);
  });

  it("refuses a server write key, which must never be published in a page", async () => {
    for (const path of [`/v1/projects/${WRITE_KEY}/settings`, `/t.js?writeKey=${WRITE_KEY}`]) {
      const res = await call(path);
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe("server_key_in_browser");
      expect(body.error.message).toContain("BROWSER_WRITE_KEYS");
    }
    expect((await call(`/t.js?writeKey=${BROWSER_KEY}`)).status).toBe(200);
  });

  it("answers 404 for a write key no source has", async () => {
    const res = await call("/v1/projects/not-a-key/settings");
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("unknown_write_key");
  });
});

describe("analytics.js's own paths", () => {
  it("accept a single message at /v1/t and a batch at /v1/b, sent as text/plain with Basic auth", async () => {
    const anonymousId = uid("anon");
    const headers = { authorization: basic(WRITE_KEY), "content-type": "text/plain" };
    const single = await call("/v1/t", {
      method: "POST",
      headers,
      body: JSON.stringify({ type: "track", event: "Product Viewed", anonymousId, writeKey: WRITE_KEY }),
    });
    expect(single.status).toBe(200);
    const batch = await call("/v1/b", {
      method: "POST",
      headers,
      body: JSON.stringify({ batch: [{ type: "page", anonymousId }], writeKey: WRITE_KEY }),
    });
    expect(((await batch.json()) as { accepted: number }).accepted).toBe(1);
    const profile = await readJson<{ counts: { events: number } }>(`/v1/profiles/anonymous_id:${anonymousId}`);
    expect(profile.counts.events).toBe(2);
  });
});
