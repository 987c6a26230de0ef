/**
 * The experiments a merge call looks up, held in the Worker isolate's memory
 * (like the catalog's ranking copy): loaded from D1 on first use, refreshed
 * in the background every `REFRESH_MS`, and dropped at once by a write
 * through this isolate. So the per-recipient path makes no D1 query; other
 * isolates see a new or stopped experiment within the refresh interval (an
 * exposure recorded after the stop is left out of the results by time).
 *
 * An `?experiment=` id the copy does not hold reloads it, at most once per
 * `MISS_RELOAD_MS`: a new experiment is found at once, and a flood of made-up
 * ids costs one query a second.
 */
import type { WarehouseDb } from "../catalog/store";
import { listExperiments, type StoredExperiment } from "./store";

const REFRESH_MS = 10_000;
const MISS_RELOAD_MS = 1_000;

interface Loaded {
  byId: Map<string, StoredExperiment>;
  /** Each campaign's newest experiment: the running one, else the last that stopped. */
  byCampaign: Map<string, StoredExperiment>;
  loadedAt: number;
}

let current: Loaded | null = null;
let loading: Promise<Loaded> | null = null;
let generation = 0;

function indexOf(list: readonly StoredExperiment[], now: number): Loaded {
  const byId = new Map(list.map((e) => [e.id, e]));
  const byCampaign = new Map<string, StoredExperiment>();
  // Newest first: a running experiment takes its campaign over any that stopped.
  for (const e of list) {
    if (!e.campaign) continue;
    const held = byCampaign.get(e.campaign);
    if (!held || (held.status === "stopped" && e.status === "running")) byCampaign.set(e.campaign, e);
  }
  return { byId, byCampaign, loadedAt: now };
}

function reload(db: WarehouseDb, now: number): Promise<Loaded> {
  if (loading) return loading;
  const started = generation;
  const attempt = listExperiments(db)
    .then((list) => {
      const loaded = indexOf(list, now);
      if (started === generation) current = loaded;
      return loaded;
    })
    .finally(() => {
      if (loading === attempt) loading = null;
    });
  loading = attempt;
  return attempt;
}

async function experimentsIndex(
  db: WarehouseDb,
  waitUntil: (p: Promise<unknown>) => void,
  now: number,
): Promise<Loaded> {
  if (current && now - current.loadedAt < REFRESH_MS) return current;
  if (current) {
    waitUntil(
      reload(db, now).catch((err) =>
        console.error(JSON.stringify({ msg: "experiments refresh failed", error: String(err) })),
      ),
    );
    return current;
  }
  return reload(db, now);
}

/**
 * The experiment a merge call joins: the one named by `experiment`, else the
 * one tied to `campaign`; null when neither names one. An unknown
 * `experiment` id answers `unknown`.
 */
export async function experimentForMerge(
  db: WarehouseDb,
  query: { experiment: string | null; campaign: string | null },
  waitUntil: (p: Promise<unknown>) => void,
  now = Date.now(),
): Promise<StoredExperiment | "unknown" | null> {
  if (query.experiment === null && query.campaign === null) return null;
  let index = await experimentsIndex(db, waitUntil, now);
  if (query.experiment !== null) {
    let found = index.byId.get(query.experiment);
    if (!found && now - index.loadedAt >= MISS_RELOAD_MS) {
      index = await reload(db, now);
      found = index.byId.get(query.experiment);
    }
    return found ?? "unknown";
  }
  return query.campaign !== null ? (index.byCampaign.get(query.campaign) ?? null) : null;
}

/** Forget the cached copy after an experiment is created or stopped through this isolate. */
export function invalidateExperiments() {
  generation += 1;
  current = null;
  loading = null;
}
