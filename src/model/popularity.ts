/**
 * Decayed product popularity without a background job. Instead of decaying
 * every stored score as time passes, each interaction adds
 * `weight · 2^((t − EPOCH)/halfLife)`: newer interactions weigh
 * exponentially more, so ordering by the plain sum orders by decayed
 * popularity at any later moment, and adding is a plain `score + x`.
 * (With a 14-day half-life the scale stays far inside double range for decades.)
 */
import type { InteractionKind, Settings } from "./settings";

export const POPULARITY_EPOCH = Date.UTC(2026, 0, 1);

export function popularityIncrement(weight: number, at: number, halfLifeMs: number): number {
  return weight * 2 ** ((at - POPULARITY_EPOCH) / halfLifeMs);
}

/**
 * Increments gathered in an isolate between flushes, so ingestion adds one
 * warehouse write every few seconds rather than one per request.
 */
export class PopularityTally {
  private pending = new Map<string, number>();

  add(
    interactions: readonly { productId: string | null; kind: InteractionKind }[],
    at: number,
    settings: Pick<Settings, "weights" | "halfLifeMs">,
  ) {
    for (const i of interactions) {
      const weight = settings.weights[i.kind];
      if (!i.productId || weight <= 0 || i.kind === "page") continue;
      const inc = popularityIncrement(weight, at, settings.halfLifeMs);
      this.pending.set(i.productId, (this.pending.get(i.productId) ?? 0) + inc);
    }
  }

  get size(): number {
    return this.pending.size;
  }

  /** Takes everything pending; the caller writes it (and may `restore` it on failure). */
  drain(): Map<string, number> {
    const out = this.pending;
    this.pending = new Map();
    return out;
  }

  restore(increments: ReadonlyMap<string, number>) {
    for (const [id, inc] of increments) this.pending.set(id, (this.pending.get(id) ?? 0) + inc);
  }
}
