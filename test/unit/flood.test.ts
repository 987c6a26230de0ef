import { describe, expect, it } from "vitest";
import { fullBucket, take } from "../../src/model/flood";
import { T0 } from "./fixtures";

const LIMITS = { perSecond: 100, burst: 1000 };

describe("per-profile flood protection", () => {
  it("lets a burst through, then holds a profile to the sustained rate", () => {
    let bucket = fullBucket(LIMITS, T0);
    const first = take(bucket, 1000, LIMITS, T0);
    expect(first.ok).toBe(true);
    bucket = first.bucket;
    const next = take(bucket, 20, LIMITS, T0 + 100);
    expect(next).toMatchObject({ ok: false, retryAfterMs: 100 });
    expect(take(next.bucket, 20, LIMITS, T0 + 200).ok).toBe(true);
  });

  it("refills no further than the burst after a long quiet spell", () => {
    const quiet = take({ tokens: 0, at: T0 }, 1, LIMITS, T0 + 3_600_000);
    expect(quiet.ok && quiet.bucket.tokens).toBe(999);
  });

  it("lets a batch larger than the burst through once the bucket is full, rather than never", () => {
    expect(take(fullBucket(LIMITS, T0), 2500, LIMITS, T0)).toMatchObject({ ok: true, bucket: { tokens: 0 } });
    expect(take({ tokens: 500, at: T0 }, 2500, LIMITS, T0)).toMatchObject({ ok: false, retryAfterMs: 5000 });
  });
});
