/**
 * What the fuzz suites share: the inputs an attacker or a broken client
 * sends (any JSON, strings that break naive code, messages that are nearly
 * right), how many cases a property runs, and the request helper.
 *
 * The suites are three files because the test pool slows down with every
 * actor it has constructed in one runtime (each new instance nests one more
 * Proxy around the class's prototype, workers-sdk#15446); each file starts
 * a fresh runtime. Requests go straight to the Worker's handler (`handle`)
 * for the same reason.
 */
import fc from "fast-check";

export { basic, handle as call, WRITE_KEY } from "../helpers";

/** `n` cases of a property (`npm run fuzz` runs the suites in rounds, each with new seeds). */
export const runs = (n: number) => ({ numRuns: n });
export const TIMEOUT = 300_000;
export const apiKey = { authorization: "Bearer test-api-key" };

/** Any JSON value, with the strings an attacker favours mixed in. */
const nasty = fc.constantFrom(
  "__proto__",
  "constructor",
  "",
  " ",
  "\u0000",
  "<script>",
  "../../etc",
  "%00",
  "💥",
  "a".repeat(300),
);
export const jsonValue = fc.oneof(fc.jsonValue({ maxDepth: 3 }), nasty);
export const idLike = fc.oneof(fc.string({ maxLength: 40 }), nasty, jsonValue);

/** A message that is sometimes valid, often nearly so, and sometimes nonsense. */
export const message = fc.record(
  {
    type: fc.oneof(fc.constantFrom("track", "identify", "page", "screen", "group", "alias"), idLike),
    userId: idLike,
    anonymousId: idLike,
    event: fc.oneof(fc.constantFrom("Product Viewed", "Order Completed", "Product Added"), idLike),
    name: idLike,
    previousId: idLike,
    groupId: idLike,
    messageId: idLike,
    timestamp: fc.oneof(
      fc
        .date({ noInvalidDate: true, min: new Date("1990-01-01"), max: new Date("2100-01-01") })
        .map((d) => d.toISOString()),
      idLike,
    ),
    sentAt: fc.oneof(
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      idLike,
    ),
    properties: fc.oneof(
      fc.record({ product_id: idLike, category: idLike, price: jsonValue, products: jsonValue }, { requiredKeys: [] }),
      jsonValue,
    ),
    traits: fc.oneof(fc.record({ email: idLike, firstName: idLike }, { requiredKeys: [] }), jsonValue),
    context: fc.oneof(
      fc.record({ ip: idLike, userAgent: idLike, page: jsonValue, consent: jsonValue }, { requiredKeys: [] }),
      jsonValue,
    ),
  },
  { requiredKeys: [] },
);
