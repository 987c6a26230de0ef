/**
 * The catalog copy the recommendation hot path ranks from: a ranking index
 * held in the Worker isolate's memory, loaded from D1 on first use and
 * refreshed in the background (stale-while-revalidate) every
 * `CATALOG_REFRESH_SECONDS`. A warm isolate answers recommendations without
 * any D1 query; catalog writes through this isolate invalidate it at once,
 * other isolates converge within the refresh interval.
 *
 * Popularity increments from ingestion are tallied here too and written to
 * D1 at most every few seconds.
 */

import { PopularityTally } from "../model/popularity";
import { buildCatalogIndex, type CatalogIndex } from "../model/ranking";
import { addPopularity, loadCatalog, type WarehouseDb } from "./store";

interface Loaded {
  index: CatalogIndex;
  loadedAt: number;
}

let current: Loaded | null = null;
let loading: Promise<Loaded> | null = null;
/** Bumped by every invalidation, so a load that began before it is not kept. */
let generation = 0;

function reload(db: WarehouseDb, now: number): Promise<Loaded> {
  if (loading) return loading;
  const started = generation;
  const attempt = loadCatalog(db)
    .then(({ products, popularity }) => {
      const loaded = { index: buildCatalogIndex(products, popularity), loadedAt: now };
      if (started === generation) current = loaded;
      return loaded;
    })
    .finally(() => {
      if (loading === attempt) loading = null;
    });
  loading = attempt;
  return attempt;
}

/** The ranking index; only a cold isolate waits for D1. */
export async function catalogIndex(
  db: WarehouseDb,
  refreshMs: number,
  waitUntil: (p: Promise<unknown>) => void,
  now = Date.now(),
): Promise<CatalogIndex> {
  if (current && now - current.loadedAt < refreshMs) return current.index;
  if (current) {
    waitUntil(
      reload(db, now).catch((err) =>
        console.error(JSON.stringify({ msg: "catalog refresh failed", error: String(err) })),
      ),
    );
    return current.index;
  }
  return (await reload(db, now)).index;
}

/** Forget the cached copy after a catalog write. */
export function invalidateCatalog() {
  generation += 1;
  current = null;
  loading = null;
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
