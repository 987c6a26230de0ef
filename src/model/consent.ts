/**
 * Consent (Segment's consent context): `context.consent.categoryPreferences`
 * maps the site's consent categories to true or false. When the categories
 * that cover personalization are refused, the person's events still count
 * for analytics, but they no longer move affinities or product history, and
 * merge calls answer the non-personalized (trending) block. Which category
 * names mean personalization is configuration (`CONSENT_PERSONALIZATION_CATEGORIES`,
 * e.g. a consent manager's `C0004`); by default any whose name says
 * personalization.
 */

/** What one message says about personalization: refused, granted, or nothing. */
export function personalizationConsent(
  context: Record<string, unknown>,
  categories: readonly string[],
): boolean | null {
  const consent = context.consent;
  if (!consent || typeof consent !== "object") return null;
  const prefs = (consent as Record<string, unknown>).categoryPreferences;
  if (!prefs || typeof prefs !== "object" || Array.isArray(prefs)) return null;
  const wanted = categories.map((c) => c.toLowerCase());
  let answer: boolean | null = null;
  for (const [name, value] of Object.entries(prefs as Record<string, unknown>)) {
    if (typeof value !== "boolean") continue;
    const key = name.toLowerCase();
    const covers = wanted.length > 0 ? wanted.includes(key) : /personali[sz]ation/.test(key);
    if (!covers) continue;
    // Any covering category refused means refused.
    if (!value) return false;
    answer = true;
  }
  return answer;
}
