/**
 * The experiments a merge call looks up, held in the Worker isolate's memory
 * (warehouse/isolate-copy.ts, like the catalog's ranking index): refreshed
 * every `REFRESH_MS`, and dropped at once by a write through this isolate.
 * So the per-recipient path makes no D1 query; other isolates see a new or
 * stopped experiment within the refresh interval (an exposure recorded after
 * the stop is left out of the results by time).
 *
 * An `?experiment=` id the copy does not hold reloads it, at most once per
 * `MISS_RELOAD_MS`: a new experiment is found at once, and a flood of made-up
 * ids costs one query a second.
 */
import type { WarehouseDb } from "../catalog/store";
import { IsolateCopy } from "../warehouse/isolate-copy";
import { listExperiments, type StoredExperiment } from "./store";

const REFRESH_MS = 10_000;
const MISS_RELOAD_MS = 1_000;

interface Experiments {
  byId: Map<string, StoredExperiment>;
  /** Each campaign's newest experiment: the running one, else the last that stopped. */
  byCampaign: Map<string, StoredExperiment>;
}

function indexOf(list: readonly StoredExperiment[]): Experiments {
  const byId = new Map(list.map((e) => [e.id, e]));
  const byCampaign = new Map<string, StoredExperiment>();
  // Newest first: a running experiment takes its campaign over any that stopped.
  for (const e of list) {
    if (!e.campaign) continue;
    const held = byCampaign.get(e.campaign);
    if (!held || (held.status === "stopped" && e.status === "running")) byCampaign.set(e.campaign, e);
  }
  return { byId, byCampaign };
}

const copy = new IsolateCopy("experiments", async (db) => indexOf(await listExperiments(db)));

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
  let held = await copy.get(db, REFRESH_MS, waitUntil, now);
  if (query.experiment !== null) {
    let found = held.value.byId.get(query.experiment);
    if (!found && now - held.loadedAt >= MISS_RELOAD_MS) {
      held = await copy.reload(db, now);
      found = held.value.byId.get(query.experiment);
    }
    return found ?? "unknown";
  }
  return query.campaign !== null ? (held.value.byCampaign.get(query.campaign) ?? null) : null;
}

/** Forget the cached copy after an experiment is created or stopped through this isolate. */
export function invalidateExperiments() {
  copy.invalidate();
}
