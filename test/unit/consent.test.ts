import { describe, expect, it } from "vitest";
import { personalizationConsent } from "../../src/model/consent";
import { applyEvents } from "../../src/model/profile";
import { readSettings } from "../../src/model/settings";
import { ACTOR_KEY, DAY, emptyMemory, MINUTE, profileEvent, T0 } from "./fixtures";

const consent = (categoryPreferences: Record<string, unknown>) => ({ consent: { categoryPreferences } });

describe("reading consent from Segment's consent context", () => {
  it("finds personalization refused or granted by any category named for it", () => {
    expect(personalizationConsent(consent({ Personalization: false, Analytics: true }), [])).toBe(false);
    expect(personalizationConsent(consent({ personalisation: true }), [])).toBe(true);
    expect(personalizationConsent(consent({ Analytics: false }), [])).toBeNull();
    expect(personalizationConsent({}, [])).toBeNull();
  });

  it("uses the configured categories instead, and any one of them refused means refused", () => {
    expect(personalizationConsent(consent({ C0004: false, C0003: true }), ["C0003", "C0004"])).toBe(false);
    expect(personalizationConsent(consent({ C0003: true }), ["C0003", "C0004"])).toBe(true);
    expect(personalizationConsent(consent({ Personalization: false }), ["C0004"])).toBeNull();
  });

  it("ignores values that are not booleans", () => {
    expect(personalizationConsent(consent({ Personalization: "no" }), [])).toBeNull();
    expect(personalizationConsent({ consent: { categoryPreferences: ["Personalization"] } }, [])).toBeNull();
  });
});

describe("a profile without consent to personalization", () => {
  const settings = readSettings({}, () => {});
  const viewed = (at: number, context: Record<string, unknown> = {}) =>
    profileEvent({
      name: "Product Viewed",
      timestamp: at,
      context,
      properties: { product_id: "p-1", category: "Shoes" },
    });

  it("counts the events but learns no affinities from them, and remembers the refusal for events that say nothing", () => {
    const c = applyEvents(
      emptyMemory(),
      ACTOR_KEY,
      [viewed(T0, consent({ Personalization: false })), viewed(T0 + MINUTE)],
      settings,
      T0 + DAY,
    );
    expect(c.profile).toMatchObject({ eventCount: 2, personalization: false, consentAt: T0 });
    expect(c.affinities.size).toBe(0);
    expect(c.products.size).toBe(0);
  });

  it("learns again from the moment consent is given", () => {
    const c = applyEvents(
      emptyMemory(),
      ACTOR_KEY,
      [viewed(T0, consent({ Personalization: false })), viewed(T0 + MINUTE, consent({ Personalization: true }))],
      settings,
      T0 + DAY,
    );
    expect(c.profile.personalization).toBe(true);
    expect(c.affinities.get("product:p-1")?.score).toBe(1);
  });
});
