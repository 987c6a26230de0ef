/**
 * Per-profile flood protection: a token bucket in front of one actor's
 * ingestion. A person (or a script pretending to be one) sending thousands of
 * events per second is throttled on their own profile, while everyone else's
 * events go through. Pure, with the clock passed in.
 */

export interface TokenBucket {
  tokens: number;
  at: number;
}

export interface BucketLimits {
  /** Sustained events per second. */
  perSecond: number;
  /** Events allowed in one burst above the sustained rate (the bucket's size). */
  burst: number;
}

export function fullBucket(limits: BucketLimits, now: number): TokenBucket {
  return { tokens: limits.burst, at: now };
}

/**
 * Takes `n` tokens if the bucket holds them. Either way returns the refilled
 * bucket, and when refused how long until `n` tokens are there again.
 */
export function take(
  bucket: TokenBucket,
  n: number,
  limits: BucketLimits,
  now: number,
): { ok: true; bucket: TokenBucket } | { ok: false; bucket: TokenBucket; retryAfterMs: number } {
  const refilled = Math.min(limits.burst, bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * limits.perSecond);
  // A batch larger than the whole bucket costs the whole bucket: it waits for a full one, then goes through.
  const cost = Math.min(n, limits.burst);
  if (refilled >= cost) return { ok: true, bucket: { tokens: refilled - cost, at: now } };
  return {
    ok: false,
    bucket: { tokens: refilled, at: now },
    retryAfterMs: Math.ceil(((cost - refilled) / limits.perSecond) * 1000),
  };
}
