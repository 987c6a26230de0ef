/**
 * What the change consumer is doing now, for an operator: each batch being
 * applied in this isolate, since when, and the step it is at. The Queue
 * hands over the next batch only when one returns, so a step that never
 * ends stops the sink; here it shows (`GET /v1/sink/status`) and is logged.
 * On Cloudflare each isolate sees only its own batches.
 */

/** A change batch being applied in this isolate: when it began and the step it is at. */
interface BatchInProgress {
  since: number;
  messages: number;
  step: string;
  stepSince: number;
}

const batchesInProgress = new Set<BatchInProgress>();

function described(b: BatchInProgress) {
  return {
    since: new Date(b.since).toISOString(),
    messages: b.messages,
    step: b.step,
    stepSince: new Date(b.stepSince).toISOString(),
  };
}

/** The change batches this isolate is applying now (`GET /v1/sink/status`): the Queue waits for each to return. */
export function consumerInProgress() {
  return [...batchesInProgress].map(described);
}

/** A batch still running after this long is logged, with its step, and again each time this passes. */
const SLOW_BATCH_MS = 30_000;

export async function tracked(messages: number, work: (step: (name: string) => void) => Promise<void>): Promise<void> {
  const now = Date.now();
  const batch: BatchInProgress = { since: now, messages, step: "parsing", stepSince: now };
  batchesInProgress.add(batch);
  const watchdog = setInterval(
    () => console.error(JSON.stringify({ msg: "change batch still running", ...described(batch) })),
    SLOW_BATCH_MS,
  );
  try {
    await work((name) => {
      batch.step = name;
      batch.stepSince = Date.now();
    });
  } finally {
    clearInterval(watchdog);
    batchesInProgress.delete(batch);
  }
}
