/**
 * A stand-in for an ESP's webhook endpoint (no real ESP can run here), for
 * the in-runtime audience tests: a Node HTTP server on 127.0.0.1 that keeps
 * every delivery it receives — body, headers, and whether it answered 200.
 *
 *   POST /hooks/<name>?fail=<n>  answers 503 to the first n attempts of each
 *                                messageId, then 200
 *   GET  /received/<name>        every attempt so far, in arrival order
 */
import { createServer } from "node:http";

export async function startEspWebhookMock() {
  const attempts = new Map();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const [, kind, name = ""] = url.pathname.split("/");
    if (req.method === "GET" && kind === "received") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(attempts.get(name) ?? []));
      return;
    }
    if (req.method !== "POST" || kind !== "hooks") {
      res.writeHead(404).end();
      return;
    }
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      let messageId = null;
      try {
        messageId = JSON.parse(body).messageId ?? null;
      } catch {}
      const list = attempts.get(name) ?? [];
      attempts.set(name, list);
      const failFirst = Number(url.searchParams.get("fail") ?? 0);
      const earlier = list.filter((a) => a.messageId === messageId).length;
      const status = earlier < failFirst ? 503 : 200;
      list.push({ messageId, body, signature: req.headers["x-signature"] ?? null, status, at: Date.now() });
      res.writeHead(status, { "content-type": "text/plain" }).end(status === 200 ? "ok" : "try later");
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  // It serves for as long as the test run lasts and never holds the run open.
  server.unref();
  const address = server.address();
  return { url: `http://127.0.0.1:${address.port}`, close: () => new Promise((r) => server.close(r)) };
}
