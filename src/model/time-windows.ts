/**
 * Rolling time windows for computed traits and audience conditions
 * (DESIGN §8): `"<n>h"` or `"<n>d"` from one hour to ninety days, measured on
 * event timestamps against the current time.
 */
import { z } from "zod";

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
export const MIN_WINDOW_MS = HOUR_MS;
export const MAX_WINDOW_MS = 90 * DAY_MS;

const WINDOW = /^([1-9][0-9]{0,3})(h|d)$/;

/** The length of a window such as `"24h"` or `"7d"`, or null when it is not one within 1h … 90d. */
export function windowMs(text: string): number | null {
  const m = WINDOW.exec(text);
  if (!m) return null;
  const ms = Number(m[1]) * (m[2] === "h" ? HOUR_MS : DAY_MS);
  return ms >= MIN_WINDOW_MS && ms <= MAX_WINDOW_MS ? ms : null;
}

const windowMessage = 'a window is "<n>h" or "<n>d" from "1h" to "90d", such as "24h" or "7d"';

/** A rolling window, for audience conditions. */
export const rollingWindow = z.string().refine((w) => windowMs(w) !== null, windowMessage);

/** A rolling window or `"lifetime"`, for computed traits. */
export const traitWindow = z.string().refine((w) => w === "lifetime" || windowMs(w) !== null, {
  message: `${windowMessage}, or "lifetime"`,
});
