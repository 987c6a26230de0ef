/**
 * Admission to the profile actors from ingestion, per isolate.
 *
 * Each request calls at most a few dozen actors at once, but many requests
 * together could still wake thousands: on one machine (`npm start`) every
 * actor holds a SQLite connection and workerd caps their memory together, so
 * past a couple of thousand live actors every statement fails. So:
 *
 *   - at most `ACTOR_CALLS_IN_FLIGHT` gated calls run at once; the rest wait
 *     for a slot;
 *   - a request whose calls could not all finish within `ADMISSION_BUDGET_MS`
 *     at the rate calls have been finishing is refused at once, before
 *     anything is stored (503 `overloaded`, `Retry-After` the time the
 *     admitted work needs): a saturated service answers fast rather than
 *     queueing without end (model/admission.ts);
 *   - a request whose calls are still waiting `REQUEST_BUDGET_MS` after its
 *     fan-out began gives up on them (503, the rest of the request kept;
 *     messageIds make the retry safe).
 *
 * On Cloudflare each isolate has its own gate, which only bounds that
 * isolate's fan-out. Waiting polls a timer rather than resolving one
 * request's promise from another's: workerd ties a promise to the request
 * that made it.
 */
import { Admission } from "../model/admission";
import { finishedWithin } from "../model/fan-out";
import { ApiError } from "./errors";

/** Ingest calls to actors in flight in this isolate at once. */
export const ACTOR_CALLS_IN_FLIGHT = 64;
/** How long the admitted calls may take to drain before new requests are refused. */
const ADMISSION_BUDGET_MS = 5_000;
/** Calls admitted before the finishing rate is known: one full batch of distinct people. */
const COLD_ALLOWANCE = 2_500;
/**
 * How long one request's fan-out may wait for slots in all. Half of what
 * Segment's server SDK waits for an answer (analytics-node's
 * `httpRequestTimeout`, 10 s): the calls already running still need time to
 * finish, and a 503 that arrives after the client gave up is a timeout to it,
 * without the `Retry-After` it needed.
 */
export const REQUEST_BUDGET_MS = 5_000;
/**
 * How long after the slot budget a request still waits for calls already
 * running before it answers without them: the answer comes within
 * `REQUEST_BUDGET_MS + ANSWER_GRACE_MS` (7 s) however slowly the actors go.
 */
export const ANSWER_GRACE_MS = 2_000;
const POLL_MS = 3;
/** What a refused client is told to wait. */
export const OVERLOAD_RETRY_AFTER_SECONDS = 2;

let inFlight = 0;
const admission = new Admission(ADMISSION_BUDGET_MS, ACTOR_CALLS_IN_FLIGHT, COLD_ALLOWANCE);

export class ActorsBusy extends Error {
  constructor() {
    super(`no actor slot within the request's ${REQUEST_BUDGET_MS} ms`);
  }
}

const retryAfter = { "retry-after": String(OVERLOAD_RETRY_AFTER_SECONDS) };

/**
 * Admits a request that will call `calls` actors, or refuses it at once while
 * the gate cannot take it in time. Each admitted call must then go through
 * `withActorSlot`, or be given back with the returned `withdraw` if the
 * request fails before its fan-out.
 */
export function admitIngest(calls: number): () => void {
  if (calls === 0) return () => {};
  const answer = admission.admit(calls, Date.now());
  if (answer.ok) return () => admission.withdraw(calls);
  throw new ApiError(
    503,
    "overloaded",
    `the service is at capacity and stored nothing from this request; retry after ${answer.retryAfterSeconds} s`,
    undefined,
    { "retry-after": String(answer.retryAfterSeconds) },
  );
}

/**
 * Runs an admitted call once fewer than `ACTOR_CALLS_IN_FLIGHT` gated calls
 * are in flight, or fails it at `deadline`.
 */
export async function withActorSlot<T>(deadline: number, call: () => Promise<T>): Promise<T> {
  try {
    while (inFlight >= ACTOR_CALLS_IN_FLIGHT) {
      if (Date.now() >= deadline) throw new ActorsBusy();
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    inFlight += 1;
    try {
      return await call();
    } finally {
      inFlight -= 1;
    }
  } finally {
    admission.finished(Date.now());
  }
}

/** The answer to a request some of whose actors could not be reached: retry it, after a pause. */
export function actorsUnavailable(failed: number, of: number, overloaded: boolean): ApiError {
  const what = `events for ${failed} of ${of} profiles were not stored`;
  return new ApiError(
    503,
    overloaded ? "overloaded" : "unavailable",
    overloaded
      ? `the service is at capacity: ${what}; retry after ${OVERLOAD_RETRY_AFTER_SECONDS} s (messageIds make retries safe)`
      : `${what}; retry the request (messageIds make retries safe)`,
    undefined,
    retryAfter,
  );
}

/**
 * The fan-out's results, or null once `ms` have passed: the calls still
 * running are handed to `finishLate` (to finish under `waitUntil`), and the
 * request answers 503 for them — a retry is applied once, by messageId,
 * whether or not they finished meanwhile.
 */
export async function resultsWithin<T>(
  fanOut: Promise<T>,
  ms: number,
  finishLate: (fanOut: Promise<T>) => void,
): Promise<T | null> {
  const finished = await finishedWithin(fanOut, ms);
  if (finished === null) finishLate(fanOut);
  return finished?.value ?? null;
}
