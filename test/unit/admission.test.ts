import { describe, expect, it } from "vitest";
import { Admission } from "../../src/model/admission";
import { resultsWithin } from "../../src/routes/actor-gate";

/** Finishes `n` admitted calls spread evenly over `ms` starting at `from`; returns the end time. */
function finish(a: Admission, n: number, from: number, ms: number): number {
  for (let i = 1; i <= n; i++) a.finished(from + Math.round((i * ms) / n));
  return from + ms;
}

describe("admission to the actors", () => {
  it("admits a full batch of distinct people on a cold start, and anything at all when nothing is pending", () => {
    const a = new Admission(5_000, 64, 2_500);
    expect(a.admit(2_500, 1_000)).toEqual({ ok: true });
    const idle = new Admission(5_000, 64, 2_500);
    expect(idle.admit(10_000, 1_000)).toEqual({ ok: true });
  });

  it("refuses what cannot drain within the budget at the rate calls finished while saturated, saying how long the admitted work needs", () => {
    const a = new Admission(5_000, 64, 2_500);
    expect(a.admit(1_000, 0).ok).toBe(true);
    // 100 calls a second finish while 900+ are pending: the service is the bottleneck.
    let now = finish(a, 100, 0, 1_000);
    now = finish(a, 100, now, 1_000);
    a.finished(now + 1); // rolls the window
    expect(a.queued).toBe(799);
    // 799 pending at 100/s is 8 s of work: beyond the 5 s budget.
    expect(a.admit(10, now + 2)).toEqual({ ok: false, retryAfterSeconds: 5 });
    // Once the backlog drains below 5 s of work, new requests are admitted again.
    now = finish(a, 400, now + 2, 4_000);
    expect(a.queued).toBe(399);
    expect(a.admit(50, now + 1)).toEqual({ ok: true });
    expect(a.queued).toBe(449);
  });

  it("does not lower its estimate of capacity from a quiet window, where few calls were asked for", () => {
    const a = new Admission(5_000, 64, 2_500);
    expect(a.admit(300, 0).ok).toBe(true);
    let now = finish(a, 300, 0, 1_000); // 300/s, saturated until the last 64
    now = finish(a, 0, now, 1_000);
    expect(a.admit(2, now).ok).toBe(true);
    now = finish(a, 2, now, 1_000); // 2/s: only 2 were asked for
    a.finished(now + 1_000);
    // 1,400 calls at ~300/s drain in under 5 s: a low-traffic window did not shrink the estimate.
    expect(a.admit(1, now + 1_001).ok).toBe(true);
    expect(a.admit(1_400, now + 1_002).ok).toBe(true);
  });

  it("forgets calls withdrawn by a request that failed before its fan-out", () => {
    const a = new Admission(5_000, 64, 100);
    expect(a.admit(80, 0).ok).toBe(true);
    a.withdraw(80);
    expect(a.queued).toBe(0);
    expect(a.admit(100, 1).ok).toBe(true);
  });
});

describe("a request's answer while its actors are slow", () => {
  it("comes at the deadline, and the calls still running are handed on to finish", async () => {
    let finishLate: (v: string) => void = () => {};
    const slow = new Promise<string>((resolve) => {
      finishLate = resolve;
    });
    const handedOn: Promise<unknown>[] = [];
    const started = Date.now();
    expect(await resultsWithin(slow, 50, (p) => handedOn.push(p))).toBeNull();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(handedOn).toHaveLength(1);
    finishLate("stored");
    expect(await handedOn[0]).toBe("stored");
  });

  it("is the results themselves when the calls finish in time", async () => {
    const handedOn: Promise<unknown>[] = [];
    expect(await resultsWithin(Promise.resolve(["ok"]), 1_000, (p) => handedOn.push(p))).toEqual(["ok"]);
    expect(handedOn).toEqual([]);
  });
});
