/**
 * Consent: a person who refuses personalization (Segment's consent context)
 * is still counted, but their events move no affinities, and merge calls and
 * recommendations answer them with what everyone gets.
 */
import { describe, expect, it } from "vitest";
import type { ProfileView as Profile } from "../../src/model/views";
import { productFixture, putCatalog, readJson, sendBatch, uid } from "./helpers";

const refused = { consent: { categoryPreferences: { Analytics: true, Personalization: false } } };
const granted = { consent: { categoryPreferences: { Analytics: true, Personalization: true } } };

describe("consent to personalization", () => {
  it("refused: counted, not learned from, and given the trending block", async () => {
    const tag = uid("c").slice(0, 10);
    expect((await putCatalog([productFixture(`${tag}-1`, { categories: [`Cat ${tag}`] })])).status).toBe(200);
    const userId = uid();
    const view = (context: Record<string, unknown>) => ({
      type: "track",
      userId,
      event: "Product Viewed",
      context,
      properties: { product_id: `${tag}-1`, category: `Cat ${tag}` },
    });
    await sendBatch([
      { type: "identify", userId, traits: { firstName: "Noa" }, context: refused },
      view(refused),
      view({}),
    ]);
    const profile = await readJson<Profile>(`/v1/profiles/user_id:${userId}`);
    expect(profile.counts.events).toBe(3);
    expect(profile.affinities).toEqual([]);
    expect(profile.consent).toEqual({ personalization: false });
    const merge = await readJson<{ strategy: string; profile: { known: boolean } }>(`/v1/merge/user_id:${userId}`);
    expect(merge).toMatchObject({ strategy: "trending", profile: { known: true } });
    const recs = await readJson<{ strategy: string }>(`/v1/profiles/user_id:${userId}/recommendations`);
    expect(recs.strategy).toBe("trending");

    // Consent given later: personalization starts from there.
    await sendBatch([view(granted)]);
    const after = await readJson<Profile>(`/v1/profiles/user_id:${userId}`);
    expect(after.consent).toEqual({ personalization: true });
    expect(after.affinities.map((a) => a.dimension)).toContain(`product:${tag}-1`);
    expect((await readJson<{ strategy: string }>(`/v1/merge/user_id:${userId}`)).strategy).toBe("personalized");
  });
});
