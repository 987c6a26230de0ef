/**
 * D1 warehouse schema (drizzle-orm/d1). SQL migrations in `migrations/` are
 * generated from this file by `npm run db:generate` and applied by
 * `wrangler d1 migrations apply`.
 */
import { index, integer, real, sqliteTable, text } from "drizzle-orm/sqlite-core";

/** Product dimension and the catalog's source of truth. */
export const products = sqliteTable("products", {
  id: text("id").primaryKey(),
  title: text("title").notNull(),
  url: text("url").notNull(),
  imageUrl: text("image_url"),
  price: real("price"),
  currency: text("currency").notNull(),
  categories: text("categories", { mode: "json" }).$type<string[]>().notNull(),
  brand: text("brand"),
  inStock: integer("in_stock", { mode: "boolean" }).notNull(),
  updatedAt: integer("updated_at").notNull(),
});

/**
 * Popularity per product, decayed without a background job: each interaction
 * adds `weight · 2^((t − epoch)/halfLife)`, so adding is a plain `score + x`
 * and ordering by score orders by decayed popularity at any later time.
 */
export const productPopularity = sqliteTable("product_popularity", {
  productId: text("product_id").primaryKey(),
  score: real("score").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

/** Quarantine of rejected messages: never silently dropped (DESIGN §2.1). */
export const badEvents = sqliteTable(
  "bad_events",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    receivedAt: integer("received_at").notNull(),
    source: text("source").notNull(),
    reason: text("reason").notNull(),
    messageIndex: integer("message_index"),
    payload: text("payload").notNull(),
  },
  (t) => [index("bad_events_received_at").on(t.receivedAt)],
);
