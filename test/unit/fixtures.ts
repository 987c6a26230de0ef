/**
 * Fixtures shared by the unit tests: catalog products go through the real
 * zod schema (so defaults match production), events are normalized
 * `ProfileEvent`s as the edge hands them to the actor.
 */
import { type Product, product } from "../../src/model/catalog";
import type { ProfileEvent } from "../../src/model/messages";

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** A fixed, arbitrary wall clock: tests never read the real time. */
export const T0 = Date.UTC(2026, 2, 1, 9, 0, 0);

export function catalogProduct(fields: { id: string } & Record<string, unknown>): Product {
  return product.parse({ title: `Product ${fields.id}`, url: `https://shop.example/p/${fields.id}`, ...fields });
}

let sequence = 0;

export function profileEvent(fields: Partial<ProfileEvent> = {}): ProfileEvent {
  sequence += 1;
  return {
    messageId: `m-${sequence}`,
    type: "track",
    name: null,
    userId: "u-1",
    anonymousId: null,
    previousId: null,
    groupId: null,
    timestamp: T0,
    receivedAt: T0,
    properties: {},
    traits: {},
    context: {},
    ...fields,
  };
}

/** Narrows away `undefined` (noUncheckedIndexedAccess), failing the test loudly instead of with a `!`. */
export function defined<T>(value: T | undefined, what = "value"): T {
  if (value === undefined) throw new Error(`expected ${what} to be defined`);
  return value;
}
