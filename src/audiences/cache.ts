/**
 * The audience and computed-trait definitions every profile actor evaluates,
 * compiled once and held in the isolate's memory (warehouse/isolate-copy.ts):
 * refreshed every `REFRESH_MS` and dropped at once by a write through this
 * isolate, so ingestion makes no D1 query per event. Actors in other
 * isolates see a new or changed definition within the refresh interval; the
 * backfill a change starts evaluates everyone again after that.
 */
import type { WarehouseDb } from "../catalog/store";
import { compileDefinitions, type Definitions } from "../model/audiences";
import { type EventIndex, eventIndexOf } from "../model/segment-state";
import { IsolateCopy } from "../warehouse/isolate-copy";
import { listAudiences, listComputedTraits } from "./store";

export const REFRESH_MS = 10_000;

export interface CompiledDefinitions {
  defs: Definitions;
  index: EventIndex;
}

const copy = new IsolateCopy<CompiledDefinitions>("audience definitions", async (db) => {
  const [audiences, traits] = await Promise.all([listAudiences(db), listComputedTraits(db)]);
  const defs = compileDefinitions(audiences, traits);
  return { defs, index: eventIndexOf(defs) };
});

/** The definitions now; only a cold isolate waits for D1. */
export async function currentDefinitions(
  db: WarehouseDb,
  waitUntil: (p: Promise<unknown>) => void,
  now = Date.now(),
): Promise<CompiledDefinitions> {
  return (await copy.get(db, REFRESH_MS, waitUntil, now)).value;
}

/**
 * The definitions this isolate holds, without waiting (null when it holds
 * none yet): what an actor's ingest reads, so a warm isolate adds no await
 * to it. The Worker's ingest route loads them before it calls the actors.
 */
export function heldDefinitions(
  db: WarehouseDb,
  waitUntil: (p: Promise<unknown>) => void,
  now = Date.now(),
): CompiledDefinitions | null {
  return copy.peek(db, REFRESH_MS, waitUntil, now);
}

/** The definitions as loaded at `since` or later (a backfill started then must see the audience it is for). */
export async function definitionsSince(
  db: WarehouseDb,
  since: number,
  waitUntil: (p: Promise<unknown>) => void,
  now = Date.now(),
): Promise<CompiledDefinitions> {
  const held = await copy.get(db, REFRESH_MS, waitUntil, now);
  if (held.loadedAt >= since) return held.value;
  return (await copy.reload(db, now)).value;
}

/** Loads the definitions afresh (a backfill must evaluate the audience it was started for). */
export async function freshDefinitions(db: WarehouseDb, now = Date.now()): Promise<CompiledDefinitions> {
  copy.invalidate();
  return (await copy.reload(db, now)).value;
}

/** Forget the copy after a definition is written through this isolate. */
export function invalidateDefinitions() {
  copy.invalidate();
}
