/**
 * The catalog copy the recommendation hot path ranks from: a ranking index
 * held in the Worker isolate's memory (warehouse/isolate-copy.ts), refreshed
 * every `CATALOG_REFRESH_SECONDS`. A warm isolate answers recommendations
 * without any D1 query; catalog writes through this isolate invalidate it at
 * once, other isolates converge within the refresh interval.
 *
 * Popularity increments from ingestion are tallied here too and written to
 * D1 at most every few seconds.
 */

import { PopularityTally } from "../model/popularity";
import { buildCatalogIndex, type CatalogIndex } from "../model/ranking";
import { IsolateCopy } from "../warehouse/isolate-copy";
import { addPopularity, loadCatalog, type WarehouseDb } from "./store";

const copy = new IsolateCopy("catalog", async (db) => {
  const { products, popularity } = await loadCatalog(db);
  return buildCatalogIndex(products, popularity);
});

/** The ranking index; only a cold isolate waits for D1. */
export async function catalogIndex(
  db: WarehouseDb,
  refreshMs: number,
  waitUntil: (p: Promise<unknown>) => void,
  now = Date.now(),
): Promise<CatalogIndex> {
  return (await copy.get(db, refreshMs, waitUntil, now)).value;
}

/** Forget the cached copy after a catalog write. */
export function invalidateCatalog() {
  copy.invalidate();
}

const tally = new PopularityTally();
let lastFlush = 0;
const FLUSH_EVERY_MS = 5_000;

export { tally as popularityTally };

/** Writes tallied popularity when the last write is old enough; never throws. */
export function maybeFlushPopularity(db: WarehouseDb, waitUntil: (p: Promise<unknown>) => void, now = Date.now()) {
  if (tally.size === 0 || now - lastFlush < FLUSH_EVERY_MS) return;
  lastFlush = now;
  const increments = tally.drain();
  waitUntil(
    addPopularity(db, increments, now).catch((err) => {
      tally.restore(increments);
      console.error(JSON.stringify({ msg: "popularity flush failed", products: increments.size, error: String(err) }));
    }),
  );
}
