import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { eventsResponse, mergeResponse, profileView, recommendationsResponse } from "../../src/model/views";
import { call, quarantineRows, readJson, uid, WRITE_KEY } from "./helpers";

/** What a page does: UTF-8 bytes of the JSON, base64-encoded. */
const b64 = (value: unknown) => btoa(String.fromCharCode(...new TextEncoder().encode(JSON.stringify(value))));
const b64url = (value: unknown) => b64(value).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

async function pixel(type: string, data: string) {
  const res = await call(`/v1/pixel/${type}?data=${encodeURIComponent(data)}`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("image/gif");
  expect(res.headers.get("cache-control")).toMatch(/no-store/);
  const bytes = new Uint8Array(await res.arrayBuffer());
  expect(String.fromCharCode(...bytes.slice(0, 6))).toBe("GIF89a");
  return res;
}

describe("tracking pixel", () => {
  it("records a track event from base64 JSON and a page view from base64url JSON", async () => {
    const userId = uid();
    await pixel(
      "track",
      b64({ writeKey: WRITE_KEY, userId, event: "Product Viewed", properties: { product_id: "px-1" } }),
    );
    await pixel("page", b64url({ writeKey: WRITE_KEY, userId, name: "Home ünïcode" }));
    // A page that used plain btoa on Latin-1 text is understood too.
    await pixel("page", btoa(JSON.stringify({ writeKey: WRITE_KEY, userId, name: "Café" })));
    const { events } = await readJson<{ events: { type: string; name: string }[] }>(`/v1/profiles/${userId}/events`);
    expect(events.map((e) => [e.type, e.name]).sort()).toEqual([
      ["page", "Café"],
      ["page", "Home ünïcode"],
      ["track", "Product Viewed"],
    ]);
  });

  it("still answers a GIF for garbage, and quarantines it with the reason", async () => {
    const marker = uid("garbage");
    await pixel("track", `%%%${marker}`);
    const rows = await quarantineRows("data must be base64%");
    expect(rows.some((r) => r.payload.includes(marker) && r.source === "pixel/track")).toBe(true);
  });

  it("quarantines a pixel without a valid write key and records nothing", async () => {
    const userId = uid();
    await pixel("track", b64({ writeKey: "wrong", userId, event: "X" }));
    await pixel("track", b64({ userId, event: "X" }));
    expect((await call(`/v1/profiles/${userId}`, { headers: { authorization: "Bearer test-api-key" } })).status).toBe(
      404,
    );
    const rows = await quarantineRows("%write key%");
    expect(rows.filter((r) => r.payload.includes(userId))).toHaveLength(2);
    expect(rows.every((r) => !r.payload.includes('"writeKey"'))).toBe(true);
  });

  it("quarantines an invalid message and an unknown pixel type", async () => {
    const userId = uid();
    await pixel("track", b64({ writeKey: WRITE_KEY, userId }));
    await pixel("alias", b64({ writeKey: WRITE_KEY, userId, previousId: "p" }));
    const rows = await quarantineRows();
    expect(
      rows.some((r) => r.source === "pixel/track" && r.payload.includes(userId) && /event name/.test(r.reason)),
    ).toBe(true);
    expect(rows.some((r) => r.source === "pixel/alias" && /unknown pixel type/.test(r.reason))).toBe(true);
  });
});

describe("openapi", () => {
  it("describes every public route with schemas generated from the validators", async () => {
    const res = await call("/openapi.json");
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      openapi: string;
      paths: Record<string, unknown>;
      components: { schemas: Record<string, { oneOf?: unknown[]; anyOf?: unknown[] }> };
    };
    expect(doc.openapi).toBe("3.1.0");
    for (const path of [
      "/v1/batch",
      "/v1/track",
      "/v1/pixel/{type}",
      "/v1/profiles/{id}",
      "/v1/merge/{id}",
      "/v1/catalog/products",
      "/c/{token}",
      "/v1/sink/status",
      "/v1/sink/lake",
      "/v1/experiments",
      "/v1/experiments/{id}",
      "/v1/experiments/{id}/start",
      "/v1/experiments/{id}/stop",
      "/v1/experiments/{id}/results",
    ]) {
      expect(doc.paths, path).toHaveProperty([path]);
    }
    const message = doc.components.schemas.Message;
    expect((message?.oneOf ?? message?.anyOf)?.length).toBe(6);
  });

  it("answers reads in exactly the shapes the document publishes", async () => {
    const userId = uid();
    await call("/v1/track", {
      method: "POST",
      headers: { authorization: `Basic ${btoa(`${WRITE_KEY}:`)}`, "content-type": "application/json" },
      body: JSON.stringify({
        userId,
        event: "Product Viewed",
        properties: { product_id: "shape-1", category: "Shapes" },
      }),
    });
    const checks: [string, z.ZodObject][] = [
      [`/v1/profiles/${userId}`, profileView],
      [`/v1/profiles/${userId}/events`, eventsResponse],
      [`/v1/profiles/${userId}/recommendations`, recommendationsResponse],
      [`/v1/merge/${userId}`, mergeResponse],
    ];
    for (const [path, schema] of checks) {
      const parsed = schema.strict().safeParse(await readJson(path));
      expect(parsed.success, `${path}: ${parsed.error?.message}`).toBe(true);
    }
  });

  it("answers unknown routes with a JSON 404", async () => {
    const res = await call("/v2/nothing");
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("not_found");
  });
});
