/**
 * Admission to the profile actors from ingestion, per isolate.
 *
 * Each request already calls at most a few dozen actors at once, but many
 * requests together could still wake thousands: on one machine (`npm start`)
 * every actor holds a SQLite connection and workerd caps their memory
 * together, so past a few thousand live actors every statement fails. Calls
 * beyond `ACTOR_CALLS_IN_FLIGHT` wait for a slot; a call that cannot get one
 * within `WAIT_FOR_SLOT_MS` is refused as overload (503 with `Retry-After`),
 * and the request's other actors keep what they stored (messageIds make the
 * retry safe). On Cloudflare each isolate gets its own gate, which only
 * bounds one isolate's fan-out.
 *
 * Waiting polls a timer rather than resolving one request's promise from
 * another's: workerd ties a promise to the request that made it.
 */
import { ApiError } from "./errors";

/** Ingest calls to actors in flight in this isolate at once. */
export const ACTOR_CALLS_IN_FLIGHT = 64;
/** How long a call may wait for a slot before the request is answered 503. */
const WAIT_FOR_SLOT_MS = 3_000;
const POLL_MS = 3;
/** What a refused client is told to wait: about how long the gate takes to drain. */
export const OVERLOAD_RETRY_AFTER_SECONDS = 2;

let inFlight = 0;

export class ActorsBusy extends Error {
  constructor() {
    super(`no actor slot within ${WAIT_FOR_SLOT_MS} ms`);
  }
}

/** Runs `call` once fewer than `ACTOR_CALLS_IN_FLIGHT` gated calls are in flight. */
export async function withActorSlot<T>(call: () => Promise<T>): Promise<T> {
  if (inFlight >= ACTOR_CALLS_IN_FLIGHT) {
    const deadline = Date.now() + WAIT_FOR_SLOT_MS;
    while (inFlight >= ACTOR_CALLS_IN_FLIGHT) {
      if (Date.now() >= deadline) throw new ActorsBusy();
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
  inFlight += 1;
  try {
    return await call();
  } finally {
    inFlight -= 1;
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
    { "retry-after": String(OVERLOAD_RETRY_AFTER_SECONDS) },
  );
}
