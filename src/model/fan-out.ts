/**
 * Calls made side by side with a bound on how many are in flight: a request
 * naming thousands of people must not wake thousands of actors at the same
 * instant (each opens its own SQLite database, and the runtime caps their
 * memory together).
 */

/** `Promise.allSettled` over `items`, at most `limit` calls in flight; results in the items' order. */
export async function settleEach<T, R>(
  items: readonly T[],
  limit: number,
  call: (item: T) => Promise<R>,
): Promise<PromiseSettledResult<R>[]> {
  const results: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        results[i] = { status: "fulfilled", value: await call(items[i] as T) };
      } catch (reason) {
        results[i] = { status: "rejected", reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  return results;
}

/**
 * `work`'s value, wrapped, or null once `ms` have passed without it: the
 * caller decides what a late call means (give up on it, or let it finish in
 * the background). The timer is cleared either way.
 */
export async function finishedWithin<T>(work: Promise<T>, ms: number): Promise<{ value: T } | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), ms);
  });
  try {
    return await Promise.race([work.then((value) => ({ value })), late]);
  } finally {
    clearTimeout(timer);
  }
}
