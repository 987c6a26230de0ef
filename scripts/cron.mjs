/**
 * Whether a five-field cron expression (minute hour day-of-month month
 * day-of-week, UTC) names a given minute: what `npm start` needs to fire
 * wrangler.toml's Cron Triggers on their schedule. Fields take `*`, `*\/n`,
 * numbers, ranges `a-b` (with `/n`) and comma lists; day-of-week 0 and 7
 * are Sunday. When both day fields are restricted (neither starts with `*`),
 * either may match (cron's own rule).
 */
const RANGES = [
  [0, 59],
  [0, 23],
  [1, 31],
  [1, 12],
  [0, 7],
];

function fieldMatches(field, value, [lo, hi]) {
  return field.split(",").some((part) => {
    const [range, stepText] = part.split("/");
    const step = stepText === undefined ? 1 : Number(stepText);
    let from = lo;
    let to = hi;
    if (range !== "*") {
      const [a, b] = range.split("-").map(Number);
      from = a;
      to = b === undefined ? (stepText === undefined ? a : hi) : b;
    }
    if (!Number.isInteger(from) || !Number.isInteger(to) || !Number.isInteger(step) || step < 1) {
      throw new Error(`cron field "${field}" is not understood`);
    }
    return value >= from && value <= to && (value - from) % step === 0;
  });
}

export function cronMatches(expression, date) {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5) throw new Error(`cron "${expression}" must have five fields`);
  const [minute, hour, dom, month, dow] = fields;
  const day = date.getUTCDay();
  const domOk = fieldMatches(dom, date.getUTCDate(), RANGES[2]);
  const dowOk = fieldMatches(dow, day, RANGES[4]) || (day === 0 && fieldMatches(dow, 7, RANGES[4]));
  // Vixie cron's rule: when a day field starts with `*` (also `*/n`), both must match; else either.
  const dayOk = !dom.startsWith("*") && !dow.startsWith("*") ? domOk || dowOk : domOk && dowOk;
  return (
    fieldMatches(minute, date.getUTCMinutes(), RANGES[0]) &&
    fieldMatches(hour, date.getUTCHours(), RANGES[1]) &&
    fieldMatches(month, date.getUTCMonth() + 1, RANGES[3]) &&
    dayOk
  );
}
