/**
 * Time-decayed affinity scores: each interaction adds its weight, and every
 * score halves per half-life (`score · 2^(−age/halfLife)`). Scores are stored
 * as (value, asOf) and decayed lazily when read, so idle profiles cost nothing.
 */

export interface DecayingScore {
  score: number;
  /** Epoch ms the stored `score` is valid at. */
  asOf: number;
}

export function decayFactor(ageMs: number, halfLifeMs: number): number {
  return 2 ** (-ageMs / halfLifeMs);
}

/** The score as seen at `now`. */
export function decayedScore(s: DecayingScore, now: number, halfLifeMs: number): number {
  return s.score * decayFactor(now - s.asOf, halfLifeMs);
}

/**
 * Adds `weight` earned at time `at`. Late (out-of-order) interactions are
 * decayed to the stored `asOf`; newer ones move `asOf` forward. Either way the
 * result equals the sum of every contribution decayed to one common clock.
 */
export function addContribution(
  s: DecayingScore | undefined,
  weight: number,
  at: number,
  halfLifeMs: number,
): DecayingScore {
  if (!s) return { score: weight, asOf: at };
  if (at <= s.asOf) return { score: s.score + weight * decayFactor(s.asOf - at, halfLifeMs), asOf: s.asOf };
  return { score: s.score * decayFactor(at - s.asOf, halfLifeMs) + weight, asOf: at };
}

/**
 * The dimensions to forget when a profile holds more than `max`: the weakest
 * as of `now`. Keeps a profile's storage bounded however varied its browsing.
 */
export function weakestBeyondCap(
  scores: ReadonlyMap<string, DecayingScore>,
  max: number,
  now: number,
  halfLifeMs: number,
): string[] {
  if (scores.size <= max) return [];
  return [...scores]
    .map(([dimension, s]) => ({ dimension, value: decayedScore(s, now, halfLifeMs) }))
    .sort((a, b) => a.value - b.value)
    .slice(0, scores.size - max)
    .map((d) => d.dimension);
}

/** Decayed scores at `now`, strongest first, for reads. */
export function rankedAffinities(
  scores: ReadonlyMap<string, DecayingScore>,
  now: number,
  halfLifeMs: number,
  limit = Number.POSITIVE_INFINITY,
): { dimension: string; score: number }[] {
  return [...scores]
    .map(([dimension, s]) => ({ dimension, score: round(decayedScore(s, now, halfLifeMs)) }))
    .filter((a) => a.score > 0)
    .sort((a, b) => b.score - a.score || a.dimension.localeCompare(b.dimension))
    .slice(0, limit);
}

function round(n: number): number {
  return Math.round(n * 10_000) / 10_000;
}
