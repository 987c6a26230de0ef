/** Reproducible randomness for the tests' simulations: the same seed gives the same stream on every machine. */

/** Marsaglia's xorshift32: a seeded, reproducible stream of uniforms in [0, 1). */
export function uniforms(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 4_294_967_296;
  };
}
