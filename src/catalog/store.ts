/**
 * The catalog's source of truth in D1 (`products`, `product_popularity`):
 * upserts, point reads, pages (searched or not) and deletes for the catalog
 * API, and the full load the isolate cache ranks from.
 */
import { and, eq, sql } from "drizzle-orm";
import { type DrizzleD1Database, drizzle } from "drizzle-orm/d1";
import type { Product } from "../model/catalog";
import * as warehouse from "../sink/warehouse-schema";

export type WarehouseDb = DrizzleD1Database<typeof warehouse>;

const handles = new WeakMap<D1Database, WarehouseDb>();

/** The drizzle handle for a D1 binding, built once per binding object. */
export function warehouseDb(d1: D1Database): WarehouseDb {
  let db = handles.get(d1);
  if (!db) {
    db = drizzle(d1, { schema: warehouse });
    handles.set(d1, db);
  }
  return db;
}

/** D1 binds at most 100 parameters per statement. */
export const D1_MAX_PARAMS = 100;

export function rowsPerStatement(columns: number): number {
  return Math.max(1, Math.floor(D1_MAX_PARAMS / columns));
}

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function toRow(p: Product, now: number) {
  return {
    id: p.id,
    title: p.title,
    url: p.url,
    imageUrl: p.imageUrl ?? null,
    price: p.price ?? null,
    currency: p.currency,
    categories: p.categories,
    brand: p.brand ?? null,
    inStock: p.inStock,
    updatedAt: now,
  };
}

function fromRow(r: typeof warehouse.products.$inferSelect): Product {
  return {
    id: r.id,
    title: r.title,
    url: r.url,
    imageUrl: r.imageUrl,
    price: r.price,
    currency: r.currency,
    categories: r.categories,
    brand: r.brand,
    inStock: r.inStock,
  };
}

/** Upserts products atomically (one `db.batch`), multi-row statements within the parameter limit. */
export async function upsertProducts(db: WarehouseDb, products: readonly Product[], now = Date.now()): Promise<void> {
  // The last occurrence of an id wins, as if the products were sent one by one.
  const unique = [...new Map(products.map((p) => [p.id, p])).values()];
  const statements = chunk(unique, rowsPerStatement(10)).map((rows) =>
    db
      .insert(warehouse.products)
      .values(rows.map((p) => toRow(p, now)))
      .onConflictDoUpdate({
        target: warehouse.products.id,
        set: {
          title: sql`excluded.title`,
          url: sql`excluded.url`,
          imageUrl: sql`excluded.image_url`,
          price: sql`excluded.price`,
          currency: sql`excluded.currency`,
          categories: sql`excluded.categories`,
          brand: sql`excluded.brand`,
          inStock: sql`excluded.in_stock`,
          updatedAt: sql`excluded.updated_at`,
        },
      }),
  );
  const [first, ...rest] = statements;
  if (first) await db.batch([first, ...rest]);
}

export async function getProduct(db: WarehouseDb, id: string): Promise<Product | null> {
  const row = await db.select().from(warehouse.products).where(eq(warehouse.products.id, id)).get();
  return row ? fromRow(row) : null;
}

/** True when a product was deleted. */
export async function deleteProduct(db: WarehouseDb, id: string): Promise<boolean> {
  const deleted = await db
    .delete(warehouse.products)
    .where(eq(warehouse.products.id, id))
    .returning({ id: warehouse.products.id });
  return deleted.length > 0;
}

/** The longest search text `listProducts` takes: a product's title is at most 300 characters, a search far less. */
export const MAX_SEARCH_CHARS = 100;

/**
 * A `%text%` LIKE pattern matching `text` literally: `%`, `_` and the escape
 * character itself are escaped (with `ESCAPE '\'`).
 */
function containing(text: string): string {
  return `%${text.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
}

/**
 * A page of products in id order after `after`; with `search`, only those
 * whose id, title, brand or one of whose categories contains it (SQLite's
 * LIKE: ASCII letters in either case). One statement walking the id index
 * and stopping at `limit` matches, so a page costs what it finds, not the
 * whole catalog, unless few products match.
 */
export async function listProducts(
  db: WarehouseDb,
  limit: number,
  after: string | null,
  search: string | null = null,
): Promise<Product[]> {
  const p = warehouse.products;
  const pattern = search === null ? null : containing(search);
  const rows = await db
    .select()
    .from(p)
    .where(
      and(
        after === null ? undefined : sql`${p.id} > ${after}`,
        pattern === null
          ? undefined
          : sql`(${p.id} LIKE ${pattern} ESCAPE '\\' OR ${p.title} LIKE ${pattern} ESCAPE '\\'
              OR ${p.brand} LIKE ${pattern} ESCAPE '\\'
              OR EXISTS (SELECT 1 FROM json_each(${p.categories}) WHERE json_each.value LIKE ${pattern} ESCAPE '\\'))`,
      ),
    )
    .orderBy(p.id)
    .limit(limit)
    .all();
  return rows.map(fromRow);
}

/** The whole catalog with each product's popularity score, for the ranking index. */
export async function loadCatalog(db: WarehouseDb): Promise<{ products: Product[]; popularity: Map<string, number> }> {
  const [rows, popularity] = await db.batch([
    db.select().from(warehouse.products).orderBy(warehouse.products.updatedAt, warehouse.products.id),
    db.select().from(warehouse.productPopularity),
  ]);
  return {
    products: rows.map(fromRow),
    popularity: new Map(popularity.map((r) => [r.productId, r.score])),
  };
}

/** Adds popularity increments (already scaled to the popularity epoch) in one atomic batch. */
export async function addPopularity(db: WarehouseDb, increments: ReadonlyMap<string, number>, now = Date.now()) {
  const statements = chunk([...increments], rowsPerStatement(3)).map((rows) =>
    db
      .insert(warehouse.productPopularity)
      .values(rows.map(([productId, score]) => ({ productId, score, updatedAt: now })))
      .onConflictDoUpdate({
        target: warehouse.productPopularity.productId,
        set: {
          score: sql`${warehouse.productPopularity.score} + excluded.score`,
          updatedAt: sql`excluded.updated_at`,
        },
      }),
  );
  const [first, ...rest] = statements;
  if (first) await db.batch([first, ...rest]);
}
