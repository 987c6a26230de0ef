/**
 * The load the benchmarks send: plausible shop visits over the demo catalog
 * (a category page, product views, an add to cart), with messageIds unique
 * per run, scenario and request.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const catalog = JSON.parse(
  readFileSync(join(dirname(fileURLToPath(import.meta.url)), "..", "scripts", "demo-catalog.json"), "utf8"),
).products;

/** A run's id, so a rerun against the same state never repeats a messageId. */
export const runId = Date.now().toString(36);

/** `n` events of one person's visit; `seq` varies the products and keys the messageIds. */
export function visitEvents(userId, n, seq, scenario) {
  const events = [];
  for (let i = 0; i < n; i++) {
    const p = catalog[(seq + i * 7) % catalog.length];
    const messageId = `${runId}-${scenario}-${seq}-${i}`;
    if (i % 5 === 0) {
      events.push({
        type: "page",
        userId,
        messageId,
        name: p.categories[0],
        properties: { url: `https://shop.example.com/c/${i}`, category: p.categories[0] },
      });
    } else {
      events.push({
        type: "track",
        userId,
        messageId,
        event: i % 5 === 4 ? "Product Added" : "Product Viewed",
        properties: { product_id: p.id, category: p.categories[0], brand: p.brand, price: p.price },
        context: { userAgent: "Mozilla/5.0 (X11; Linux x86_64)", page: { url: p.url } },
      });
    }
  }
  return events;
}
