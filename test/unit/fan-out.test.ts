import { describe, expect, it } from "vitest";
import { settleEach } from "../../src/model/fan-out";

/** A call that resolves when the test says so, counting how many are in flight. */
function controlledCalls() {
  let inFlight = 0;
  let peak = 0;
  const pending: (() => void)[] = [];
  const call = async (n: number) => {
    inFlight += 1;
    peak = Math.max(peak, inFlight);
    await new Promise<void>((resolve) => pending.push(resolve));
    inFlight -= 1;
    if (n % 3 === 0) throw new Error(`call ${n} failed`);
    return n * 10;
  };
  return { call, pending, peak: () => peak };
}

describe("settleEach", () => {
  it("never has more calls in flight than its limit, and answers every item in the items' order", async () => {
    const { call, pending, peak } = controlledCalls();
    const items = Array.from({ length: 25 }, (_, i) => i + 1);
    const settled = settleEach(items, 4, call);
    // Release calls one at a time, newest first, so they finish out of order.
    while (pending.length > 0 || peak() === 0) {
      await new Promise((r) => setTimeout(r, 0));
      pending.pop()?.();
    }
    const results = await settled;
    expect(peak()).toBe(4);
    expect(results).toHaveLength(25);
    results.forEach((r, i) => {
      const n = i + 1;
      if (n % 3 === 0) expect(r).toEqual({ status: "rejected", reason: new Error(`call ${n} failed`) });
      else expect(r).toEqual({ status: "fulfilled", value: n * 10 });
    });
  });

  it("answers an empty list at once and runs a short list whole", async () => {
    expect(await settleEach([], 8, async () => 1)).toEqual([]);
    const seen: number[] = [];
    const results = await settleEach([1, 2], 8, async (n) => {
      seen.push(n);
      return n;
    });
    expect(seen).toEqual([1, 2]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled"]);
  });
});
