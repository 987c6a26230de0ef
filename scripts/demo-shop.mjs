#!/usr/bin/env node
/**
 * A demo shop on its own origin, the way a customer's site loads the service:
 * product pages from the demo catalog with "add to cart" and "sign in", in two
 * flavours: `?lib=tracker` loads the service's own `/t.js`; `?lib=segment`
 * loads Segment's `@segment/analytics-next` (served from node_modules, as a
 * site would bundle it) pointed at the service with `cdnURL`.
 *
 * `npm run demo` serves it on 127.0.0.1:8788 against `npm run dev`'s service;
 * the browser test starts it with `startDemoShop()`.
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const catalog = JSON.parse(readFileSync(join(root, "scripts", "demo-catalog.json"), "utf8")).products;
const analyticsNext = join(root, "node_modules", "@segment", "analytics-next", "dist", "umd", "index.js");

const escapeHtml = (s) =>
  String(s).replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]);

/** Loads the chosen library and exposes the same four calls as `shop.*`. */
function loader(lib, service, writeKey) {
  if (lib === "segment") {
    return `<script src="/vendor/analytics-next.js"></script>
<script>
  window.analytics = AnalyticsNext.AnalyticsBrowser.load({ writeKey: ${JSON.stringify(writeKey)}, cdnURL: ${JSON.stringify(service)} });
  window.shop = {
    page: (name, props) => analytics.page(name, props),
    track: (event, props) => analytics.track(event, props),
    identify: (id, traits) => analytics.identify(id, traits),
    anonymousId: async () => (await analytics.user()).anonymousId(),
  };
</script>`;
  }
  return `<script>
  window.edgeProfiles = window.edgeProfiles || [];
  ["page", "track", "identify", "reset"].forEach((m) => {
    edgeProfiles[m] = edgeProfiles[m] || ((...args) => edgeProfiles.push([m, ...args]));
  });
  window.shop = {
    page: (name, props) => edgeProfiles.page(name, props),
    track: (event, props) => edgeProfiles.track(event, props),
    identify: (id, traits) => edgeProfiles.identify(id, traits),
    anonymousId: async () => edgeProfiles.anonymousId(),
  };
</script>
<script async src="${escapeHtml(service)}/t.js?writeKey=${encodeURIComponent(writeKey)}"></script>`;
}

function productProps(p) {
  return {
    product_id: p.id,
    name: p.title,
    category: p.categories[0],
    brand: p.brand,
    price: p.price,
    currency: "USD",
  };
}

function layout(title, lib, service, writeKey, body, script) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
${loader(lib, service, writeKey)}
</head><body>
<nav><a id="home" href="/?lib=${lib}">Demo shop</a></nav>
${body}
<script>${script}</script>
</body></html>`;
}

function homePage(lib, service, writeKey) {
  const items = catalog
    .map((p) => `<li><a href="/p/${encodeURIComponent(p.id)}?lib=${lib}">${escapeHtml(p.title)}</a></li>`)
    .join("");
  return layout("Demo shop", lib, service, writeKey, `<h1>Demo shop</h1><ul>${items}</ul>`, `shop.page("Home");`);
}

function productPage(p, lib, service, writeKey) {
  const props = JSON.stringify(productProps(p));
  const body = `<h1>${escapeHtml(p.title)}</h1><p>${escapeHtml(p.categories[0])} · ${escapeHtml(p.brand)} · $${p.price}</p>
<button id="add">Add to cart</button>
<form id="signin"><input id="email" type="email" placeholder="e-mail"><button id="signin-button">Sign in</button></form>
<p id="status"></p>`;
  const script = `
shop.page("Product", { category: ${JSON.stringify(p.categories[0])} });
shop.track("Product Viewed", ${props});
document.getElementById("add").addEventListener("click", () => {
  shop.track("Product Added", { ...${props}, quantity: 1 });
  document.getElementById("status").textContent = "added";
});
document.getElementById("signin").addEventListener("submit", (e) => {
  e.preventDefault();
  const email = document.getElementById("email").value;
  shop.identify("user-" + email.split("@")[0], { email });
  document.getElementById("status").textContent = "signed in";
});`;
  return layout(p.title, lib, service, writeKey, body, script);
}

/**
 * @param {{ service: string, writeKey: string, port?: number }} options
 * @returns {Promise<{ url: string, stop: () => Promise<void> }>}
 */
export function startDemoShop({ service, writeKey, port = 0 }) {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://shop.local");
    const lib = url.searchParams.get("lib") === "segment" ? "segment" : "tracker";
    const send = (status, type, body) => {
      res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
      res.end(body);
    };
    if (url.pathname === "/vendor/analytics-next.js") {
      return send(200, "text/javascript; charset=utf-8", readFileSync(analyticsNext));
    }
    if (url.pathname === "/") return send(200, "text/html; charset=utf-8", homePage(lib, service, writeKey));
    const product = url.pathname.startsWith("/p/")
      ? catalog.find((p) => p.id === decodeURIComponent(url.pathname.slice(3)))
      : undefined;
    if (product) return send(200, "text/html; charset=utf-8", productPage(product, lib, service, writeKey));
    return send(404, "text/plain; charset=utf-8", "not found");
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      const stop = () => new Promise((done) => server.close(() => done()));
      resolve({ url: `http://127.0.0.1:${typeof address === "object" && address ? address.port : port}`, stop });
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const service = process.env.SERVICE_URL ?? "http://127.0.0.1:8787";
  const vars = (() => {
    try {
      return readFileSync(join(root, ".dev.vars"), "utf8");
    } catch {
      return "";
    }
  })();
  // Pages carry a browser key: the service refuses to serve a server key to a page.
  const writeKey =
    process.env.WRITE_KEY ?? /^BROWSER_WRITE_KEYS=([^,\n]+)/m.exec(vars)?.[1]?.trim() ?? "local-browser-key";
  const shop = await startDemoShop({ service, writeKey, port: Number(process.env.PORT ?? 8788) });
  console.log(
    `demo shop on ${shop.url} (tracker) and ${shop.url}/?lib=segment (analytics-next), sending to ${service}`,
  );
}
