/**
 * Catalog API (DESIGN §2.4), secret API key: D1 is the source of truth; a
 * write here invalidates this isolate's ranking copy at once. The list pages
 * by id (`after`) and searches id, title, brand and categories (`q`).
 */
import { Hono } from "hono";
import { invalidateCatalog } from "../catalog/cache";
import {
  deleteProduct,
  getProduct,
  listProducts,
  MAX_SEARCH_CHARS,
  upsertProducts,
  warehouseDb,
} from "../catalog/store";
import { CATALOG_BATCH_LIMIT, type Product, product } from "../model/catalog";
import { findUnsafeKey } from "../model/validate";
import type { AppEnv } from "./app-env";
import { requireApiKey } from "./auth";
import { parseJson, readLimitedText } from "./body";
import { ApiError } from "./errors";
import { limitParam } from "./profiles";

export const catalogRoutes = new Hono<AppEnv>();
catalogRoutes.use("/v1/catalog/*", requireApiKey());

/** 1,000 products of a few KB each, with room to spare. */
const MAX_CATALOG_BODY = 5 * 1024 * 1024;

catalogRoutes.put("/v1/catalog/products", async (c) => {
  const body = parseJson(await readLimitedText(c.req.raw, MAX_CATALOG_BODY, "catalog body"));
  const list = Array.isArray(body)
    ? body
    : body && typeof body === "object" && Array.isArray((body as { products?: unknown }).products)
      ? (body as { products: unknown[] }).products
      : null;
  if (!list) throw new ApiError(400, "invalid_body", 'send { "products": [ ... ] } or a JSON array of products');
  if (list.length === 0) throw new ApiError(400, "invalid_body", "send at least one product");
  if (list.length > CATALOG_BATCH_LIMIT) {
    throw new ApiError(
      400,
      "too_many_products",
      `request has ${list.length.toLocaleString("en-US")} products; the limit is ${CATALOG_BATCH_LIMIT.toLocaleString("en-US")} — split it`,
    );
  }
  const products: Product[] = [];
  const errors: { index: number; reason: string }[] = [];
  list.forEach((raw, index) => {
    const unsafe = findUnsafeKey(raw);
    if (unsafe) {
      errors.push({ index, reason: unsafe });
      return;
    }
    const parsed = product.safeParse(raw);
    if (parsed.success) products.push(parsed.data);
    else
      errors.push({
        index,
        reason: parsed.error.issues
          .slice(0, 3)
          .map((i) => (i.path.length ? `${i.path.join(".")}: ${i.message}` : i.message))
          .join("; "),
      });
  });
  if (errors.length > 0) {
    throw new ApiError(
      400,
      "invalid_products",
      `${errors.length} of ${list.length} products are invalid; nothing was stored — fix them and resend`,
      errors.slice(0, 100),
    );
  }
  await upsertProducts(warehouseDb(c.env.WAREHOUSE), products);
  invalidateCatalog();
  return c.json({ success: true, upserted: products.length });
});

/** `?q=`: trimmed; empty means no search, longer than `MAX_SEARCH_CHARS` is refused. */
function searchParam(raw: string | undefined): string | null {
  const q = raw?.trim() ?? "";
  if (q === "") return null;
  if (q.length > MAX_SEARCH_CHARS) {
    throw new ApiError(
      400,
      "invalid_query",
      `q is ${q.length.toLocaleString("en-US")} characters; the limit is ${MAX_SEARCH_CHARS} — search for part of it`,
    );
  }
  return q;
}

catalogRoutes.get("/v1/catalog/products", async (c) => {
  const limit = limitParam(c.req.query("limit"), 100, 1000);
  const after = c.req.query("after") ?? null;
  const q = searchParam(c.req.query("q"));
  const products = await listProducts(warehouseDb(c.env.WAREHOUSE), limit, after, q);
  const last = products.at(-1);
  return c.json({ products, next: products.length === limit && last ? last.id : null });
});

catalogRoutes.get("/v1/catalog/products/:id", async (c) => {
  const found = await getProduct(warehouseDb(c.env.WAREHOUSE), c.req.param("id"));
  if (!found)
    throw new ApiError(404, "product_not_found", `no product "${c.req.param("id").slice(0, 128)}" in the catalog`);
  return c.json(found);
});

catalogRoutes.delete("/v1/catalog/products/:id", async (c) => {
  const deleted = await deleteProduct(warehouseDb(c.env.WAREHOUSE), c.req.param("id"));
  if (!deleted)
    throw new ApiError(404, "product_not_found", `no product "${c.req.param("id").slice(0, 128)}" in the catalog`);
  invalidateCatalog();
  return c.json({ success: true, deleted: c.req.param("id") });
});
