/**
 * How a person's actor attributes what they did to the experiments they were
 * exposed to: opens and clicks only from sealed e-mail links of their own
 * variant, one conversion within the window after first exposure (both ends
 * of the window on an injected clock), each outcome once; and how a merged
 * visitor's membership joins the person's.
 */
import { describe, expect, it } from "vitest";
import {
  attributeEvents,
  type ExposureRequest,
  joinMembership,
  MAX_CONVERSION_REVENUE,
  MAX_MEMBERSHIPS,
  type Membership,
  membershipsBeyondCap,
  newMembership,
} from "../../src/model/experiment-attribution";
import { EMAIL_LINK_CLICKED, EMAIL_OPENED } from "../../src/model/link-activity";
import type { ProfileEvent } from "../../src/model/messages";
import { DAY, defined, HOUR, MINUTE, profileEvent, T0 } from "./fixtures";

const request: ExposureRequest = {
  actorKey: "user:42",
  experimentId: "recs-vs-static",
  salt: "s",
  variants: [
    { key: "static", weight: 1 },
    { key: "personalized", weight: 1 },
  ],
  conversionEvent: "Order Completed",
  windowMs: 7 * DAY,
  recordUnknown: true,
};

const exposed = (variant = "personalized", at = T0, experimentId = request.experimentId): Membership =>
  newMembership({ ...request, experimentId }, variant, at);

/** A batch from the e-mail routes' sealed links, and one from a server source. */
const fromLinks = { sealedLinks: true };
const fromServer = { sealedLinks: false };

const byId = (...ms: Membership[]) => new Map(ms.map((m) => [m.experimentId, m]));

const linkEvent = (name: string, at: number, experiment = request.experimentId, variant = "personalized") =>
  profileEvent({ name, timestamp: at, properties: { campaign: "spring", experiment, variant } });

const order = (at: number, properties: Record<string, unknown> = { revenue: 80 }): ProfileEvent =>
  profileEvent({ name: "Order Completed", timestamp: at, properties });

describe("opens and clicks", () => {
  it("a sealed open sets openedAt once and grows the revision", () => {
    const m = exposed();
    const [opened] = attributeEvents(byId(m), [linkEvent(EMAIL_OPENED, T0 + HOUR)], fromLinks);
    expect(opened).toMatchObject({ openedAt: T0 + HOUR, clickedAt: null, revision: 2 });
    const again = attributeEvents(byId(defined(opened)), [linkEvent(EMAIL_OPENED, T0 + 2 * HOUR)], fromLinks);
    expect(again).toEqual([]);
  });

  it("a click proves the e-mail was opened, even when the open pixel was blocked", () => {
    const [clicked] = attributeEvents(byId(exposed()), [linkEvent(EMAIL_LINK_CLICKED, T0 + MINUTE)], fromLinks);
    expect(clicked).toMatchObject({ openedAt: T0 + MINUTE, clickedAt: T0 + MINUTE });
  });

  it("the same events sent with a write key (not from a sealed link) count for nothing", () => {
    const events = [linkEvent(EMAIL_OPENED, T0 + MINUTE), linkEvent(EMAIL_LINK_CLICKED, T0 + MINUTE)];
    expect(attributeEvents(byId(exposed()), events, fromServer)).toEqual([]);
  });

  it("a link sealed for another variant or another experiment is not this membership's", () => {
    const m = exposed("personalized");
    const otherVariant = linkEvent(EMAIL_LINK_CLICKED, T0 + MINUTE, request.experimentId, "static");
    const otherExperiment = linkEvent(EMAIL_LINK_CLICKED, T0 + MINUTE, "another", "personalized");
    expect(attributeEvents(byId(m), [otherVariant, otherExperiment], fromLinks)).toEqual([]);
  });

  it("a link scanner's click (a bot) moves nothing", () => {
    const scan = { ...linkEvent(EMAIL_LINK_CLICKED, T0 + MINUTE), context: { bot: true } };
    expect(attributeEvents(byId(exposed()), [scan], fromLinks)).toEqual([]);
  });
});

describe("conversions", () => {
  it("count at both ends of the window, and not a millisecond outside it", () => {
    const m = exposed();
    expect(attributeEvents(byId(m), [order(T0)], fromServer)[0]?.convertedAt).toBe(T0);
    expect(attributeEvents(byId(m), [order(T0 + 7 * DAY)], fromServer)[0]?.convertedAt).toBe(T0 + 7 * DAY);
    expect(attributeEvents(byId(m), [order(T0 + 7 * DAY + 1)], fromServer)).toEqual([]);
    expect(attributeEvents(byId(m), [order(T0 - 1)], fromServer)).toEqual([]);
  });

  it("only the first conversion counts, with its revenue, however the batch is ordered", () => {
    const later = order(T0 + 2 * DAY, { revenue: 500 });
    const first = order(T0 + DAY, { total: 42.5 });
    const [converted] = attributeEvents(byId(exposed()), [later, first], fromServer);
    expect(converted).toMatchObject({
      convertedAt: T0 + DAY,
      conversionMessageId: first.messageId,
      revenue: 42.5,
      revision: 2,
    });
    expect(attributeEvents(byId(defined(converted)), [order(T0 + 3 * DAY)], fromServer)).toEqual([]);
  });

  it("an order sent with the public browser key and no identity verification converts nothing", () => {
    const forged = order(T0 + HOUR, { revenue: 1e6 });
    const trust = { sealedLinks: false, untrusted: new Set([forged.messageId]) };
    expect(attributeEvents(byId(exposed()), [forged], trust)).toEqual([]);
    // The person's real order, from the shop's server, still counts.
    const real = order(T0 + 2 * HOUR, { revenue: 80 });
    expect(attributeEvents(byId(exposed()), [forged, real], trust)[0]).toMatchObject({ revenue: 80 });
  });

  it("a negative revenue counts as 0 and an absurd one as the cap, so the statistics stay finite", () => {
    expect(attributeEvents(byId(exposed()), [order(T0 + HOUR, { revenue: -50 })], fromServer)[0]?.revenue).toBe(0);
    expect(attributeEvents(byId(exposed()), [order(T0 + HOUR, { revenue: 1e200 })], fromServer)[0]?.revenue).toBe(
      MAX_CONVERSION_REVENUE,
    );
  });

  it("revenue comes from products[] when the order names no total, and is 0 when it names nothing", () => {
    const products = { products: [{ price: 10, quantity: 3 }, { price: 5 }] };
    expect(attributeEvents(byId(exposed()), [order(T0 + HOUR, products)], fromServer)[0]?.revenue).toBe(35);
    expect(attributeEvents(byId(exposed()), [order(T0 + HOUR, {})], fromServer)[0]?.revenue).toBe(0);
  });

  it("uses each experiment's own conversion event and window", () => {
    const signup = { ...exposed("static", T0, "signup-test"), conversionEvent: "Signed Up", windowMs: HOUR };
    const recs = exposed("personalized", T0);
    const changed = attributeEvents(
      byId(signup, recs),
      [profileEvent({ name: "Signed Up", timestamp: T0 + 2 * HOUR }), order(T0 + 2 * HOUR)],
      fromServer,
    );
    expect(changed.map((m) => m.experimentId)).toEqual([request.experimentId]);
  });

  it("one batch that opens, clicks and buys makes one new state, one revision up", () => {
    const events = [
      linkEvent(EMAIL_OPENED, T0 + MINUTE),
      linkEvent(EMAIL_LINK_CLICKED, T0 + 2 * MINUTE),
      order(T0 + HOUR),
    ];
    const changed = attributeEvents(byId(exposed()), events, fromLinks);
    expect(changed).toHaveLength(1);
    expect(changed[0]).toMatchObject({
      openedAt: T0 + MINUTE,
      clickedAt: T0 + 2 * MINUTE,
      convertedAt: T0 + HOUR,
      revision: 2,
    });
  });
});

describe("a visitor merged into a known person", () => {
  it("brings a membership the person did not have", () => {
    const theirs = exposed("static", T0);
    expect(joinMembership(undefined, theirs)).toEqual({ ...theirs, revision: 2 });
  });

  it("the earliest exposure decides the variant; the later one's outcomes stay behind when the variants differ", () => {
    const mine = { ...exposed("personalized", T0 + DAY), clickedAt: T0 + DAY, openedAt: T0 + DAY, revision: 3 };
    const theirs = exposed("static", T0);
    const joined = defined(joinMembership(mine, theirs) ?? undefined);
    expect(joined).toMatchObject({ variant: "static", exposedAt: T0, openedAt: null, clickedAt: null, revision: 4 });
  });

  it("with the same variant, the earliest of each outcome is kept", () => {
    const mine = { ...exposed("static", T0), openedAt: T0 + 3 * HOUR };
    const theirs = {
      ...exposed("static", T0 + HOUR),
      openedAt: T0 + 2 * HOUR,
      convertedAt: T0 + 5 * HOUR,
      conversionMessageId: "order-1",
      revenue: 99,
    };
    expect(joinMembership(mine, theirs)).toMatchObject({
      exposedAt: T0,
      openedAt: T0 + 2 * HOUR,
      convertedAt: T0 + 5 * HOUR,
      conversionMessageId: "order-1",
      revenue: 99,
    });
  });

  it("changes nothing when the person's own membership already says it all", () => {
    const mine = { ...exposed("static", T0), openedAt: T0 + HOUR };
    expect(joinMembership(mine, exposed("personalized", T0 + DAY))).toBeNull();
  });
});

describe("bounded", () => {
  it(`keeps at most ${MAX_MEMBERSHIPS} memberships, forgetting the oldest exposures`, () => {
    const many = Array.from({ length: MAX_MEMBERSHIPS + 3 }, (_, i) => exposed("static", T0 - i * DAY, `e-${i}`));
    expect(membershipsBeyondCap(byId(...many)).sort()).toEqual(["e-100", "e-101", "e-102"]);
    expect(membershipsBeyondCap(byId(...many.slice(0, MAX_MEMBERSHIPS)))).toEqual([]);
  });
});
