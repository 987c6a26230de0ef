/**
 * `GET /v1/profiles/:id/stream`: a live view of one person, pushed by their
 * actor as server-sent events — the profile now, again after each change,
 * and a last word when the person is erased. No polling: a frame arrives
 * because an event did.
 */
import { describe, expect, it } from "vitest";
import { API_KEY, call, sendBatch, uid } from "./helpers";

interface Frame {
  event: string;
  data: {
    profile?: { id: string; traits: Record<string, unknown>; affinities: { dimension: string }[] };
    events?: { name: string | null }[];
    to?: string;
  };
}

/** Reads server-sent events frame by frame (comments skipped). */
function frames(body: ReadableStream<Uint8Array>) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  return {
    async next(): Promise<Frame | null> {
      for (;;) {
        const end = buffered.indexOf("\n\n");
        if (end >= 0) {
          const block = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          const lines = block.split("\n").filter((l) => !l.startsWith(":") && !l.startsWith("retry:"));
          if (lines.length === 0) continue;
          const event = lines.find((l) => l.startsWith("event: "))?.slice(7) ?? "message";
          const data = lines.find((l) => l.startsWith("data: "))?.slice(6) ?? "{}";
          return { event, data: JSON.parse(data) };
        }
        const { value, done } = await reader.read();
        if (done) return null;
        buffered += decoder.decode(value, { stream: true });
      }
    },
    cancel: () => reader.cancel(),
  };
}

const watch = (id: string, key = API_KEY) =>
  call(`/v1/profiles/${id}/stream`, { headers: { authorization: `Bearer ${key}` } });

describe("GET /v1/profiles/:id/stream", () => {
  it("needs the API key; someone never seen is a 404", async () => {
    expect((await call(`/v1/profiles/user_id:${uid()}/stream`)).status).toBe(401);
    const unknown = await watch(`user_id:${uid("never")}`);
    expect(unknown.status).toBe(404);
  });

  it("sends the profile now, then again when an event changes it", async () => {
    const user = uid("live");
    await sendBatch([
      { type: "identify", userId: user, traits: { email: `${user}@example.com`, name: "Live Person" } },
      { type: "track", event: "Product Viewed", userId: user, properties: { product_id: "p1", category: "Shoes" } },
    ]);
    const res = await watch(`email:${user}@example.com`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    const live = frames(res.body as ReadableStream<Uint8Array>);
    const first = await live.next();
    expect(first?.event).toBe("profile");
    expect(first?.data.profile?.id).toBe(`user_id:${user}`);
    expect(first?.data.profile?.traits.name).toBe("Live Person");
    expect(first?.data.profile?.affinities.map((a) => a.dimension)).not.toContain("category:trail");

    await sendBatch([
      { type: "track", event: "Product Viewed", userId: user, properties: { product_id: "p2", category: "Trail" } },
    ]);
    const second = await live.next();
    expect(second?.event).toBe("profile");
    expect(second?.data.profile?.affinities.map((a) => a.dimension)).toContain("category:trail");
    expect(second?.data.events?.[0]?.name).toBe("Product Viewed");
    await live.cancel();
  });

  it("follows a visitor merged into a user, and tells the watcher when the person is erased", async () => {
    const anon = uid("anon");
    const user = uid("live-erase");
    await sendBatch([{ type: "page", anonymousId: anon, name: "Home" }]);
    await sendBatch([{ type: "identify", anonymousId: anon, userId: user, traits: { plan: "pro" } }]);
    const res = await watch(`anonymous_id:${anon}`);
    expect(res.status).toBe(200);
    const live = frames(res.body as ReadableStream<Uint8Array>);
    expect((await live.next())?.data.profile?.id).toBe(`user_id:${user}`);

    const erased = await call(`/v1/profiles/user_id:${user}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(erased.status).toBeLessThan(300);
    let last: Frame | null = null;
    for (let f = await live.next(); f !== null; f = await live.next()) last = f;
    expect(last?.event).toBe("erased");
  });

  it("tells a visitor's watcher where they went when a user takes them over", async () => {
    const anon = uid("anon-moved");
    const user = uid("live-moved");
    await sendBatch([{ type: "page", anonymousId: anon, name: "Home" }]);
    const res = await watch(`anonymous_id:${anon}`);
    const live = frames(res.body as ReadableStream<Uint8Array>);
    expect((await live.next())?.data.profile?.id).toBe(`anonymous_id:${anon}`);
    await sendBatch([{ type: "identify", anonymousId: anon, userId: user }]);
    let last: Frame | null = null;
    for (let f = await live.next(); f !== null; f = await live.next()) last = f;
    expect(last).toEqual({ event: "moved", data: { to: `user_id:${user}` } });
  });

  it("keeps four watchers a person: a fifth replaces the oldest, which is told so", async () => {
    const user = uid("live-many");
    await sendBatch([{ type: "identify", userId: user, traits: { plan: "pro" } }]);
    const opened = [];
    for (let i = 0; i < 5; i++) {
      const res = await watch(`user_id:${user}`);
      expect(res.status).toBe(200);
      const live = frames(res.body as ReadableStream<Uint8Array>);
      expect((await live.next())?.event).toBe("profile");
      opened.push(live);
    }
    expect(await opened[0]?.next()).toEqual({ event: "replaced", data: {} });
    expect(await opened[0]?.next()).toBeNull();
    for (const live of opened.slice(1)) await live.cancel();
  });

  it("holds back at most the newest frame for a reader that stops reading", async () => {
    const user = uid("live-slow");
    await sendBatch([{ type: "identify", userId: user, traits: { plan: "pro" } }]);
    const res = await watch(`user_id:${user}`);
    const live = frames(res.body as ReadableStream<Uint8Array>);
    // Not read while twenty batches arrive, each a change.
    for (let i = 0; i < 20; i++) {
      await sendBatch([{ type: "track", event: `Step ${i}`, userId: user }]);
    }
    const seen: Frame[] = [];
    for (let f = await live.next(); f !== null; f = await live.next()) {
      seen.push(f);
      if (f.data.events?.[0]?.name === "Step 19") break;
    }
    // The first profile, perhaps one frame already in flight, and the newest: never a frame per batch.
    expect(seen.length).toBeLessThanOrEqual(4);
    expect(seen.at(-1)?.data.events?.[0]?.name).toBe("Step 19");
    await live.cancel();
  });
});
