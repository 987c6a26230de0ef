/**
 * The experiments page's interval chart: each variant's lift over the control
 * with its 95% interval (a forest plot), and the few formats and rules the
 * page and the chart share — drawn as SVG with classes, since the CSP allows
 * no inline style and no charting library makes a handful of lines simpler.
 */
import { el, number, svg } from "../lib.js";

/** Below this sequential p-value (with enough data) a difference is called real. */
export const ALPHA = 0.05;

export const isRate = (metric) => metric !== "revenuePerRecipient";

/** An absolute lift: percentage points for rates, money for revenue, always signed. */
export function lift(metric, x) {
  if (typeof x !== "number") return "—";
  const sign = x > 0 ? "+" : x < 0 ? "−" : "±";
  return isRate(metric) ? `${sign}${Math.abs(x * 100).toFixed(2)} pts` : `${sign}${number(Math.abs(x), 2)}`;
}

/** Is the difference real: the always-valid p-value under α, with every variant past the minimum. */
export const isReal = (c, results) => results.enoughData && c.sequentialPValue < ALPHA;

/**
 * A forest plot: each variant's 95% interval of the absolute lift as a line,
 * the lift as a dot, around a zero line (no difference). An interval clear
 * of zero is coloured by its direction. Drawn in SVG at the width the page
 * gives it; the table beside it holds the same numbers.
 */
export function forestPlot(metric, label, rows, r, available) {
  // As wide as the page gives (text stays at its size), within reason.
  const width = Math.round(Math.min(704, Math.max(300, available || 640)));
  const labelWidth = Math.round(Math.min(130, width * 0.3));
  const right = 24;
  const rowHeight = 34;
  const top = 8;
  const height = top + rows.length * rowHeight + 30;
  const ends = rows.flatMap((c) => [c.ci95[0], c.ci95[1], c.absoluteLift]).filter(Number.isFinite);
  const least = Math.min(0, ...ends);
  const most = Math.max(0, ...ends);
  let [lo, hi] = [least, most];
  if (hi - lo < 1e-9) [lo, hi] = isRate(metric) ? [-0.01, 0.01] : [-1, 1];
  const pad = (hi - lo) * 0.08;
  lo -= pad;
  hi += pad;
  const x = (v) => labelWidth + ((v - lo) / (hi - lo)) * (width - labelWidth - right);
  const summaryText = rows
    .map(
      (c) =>
        `${c.variant} ${lift(metric, c.absoluteLift)} (95% interval ${lift(metric, c.ci95[0])} to ${lift(metric, c.ci95[1])})`,
    )
    .join("; ");
  const plot = svg("svg", {
    class: "forest",
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": `${label}, lift of each variant against ${r.control} with its 95% interval: ${summaryText}.`,
  });
  const bottom = top + rows.length * rowHeight;
  plot.append(svg("line", { class: "forest-zero", x1: x(0), x2: x(0), y1: top, y2: bottom }));
  rows.forEach((c, i) => {
    const y = top + i * rowHeight + rowHeight / 2;
    const [a, b] = c.ci95;
    const direction = a > 0 ? "above" : b < 0 ? "below" : "across";
    const g = svg("g", { class: `forest-row ${direction}${isReal(c, r) ? " real" : ""}` });
    g.append(
      svg(
        "text",
        { class: "forest-label", x: labelWidth - 10, y, "text-anchor": "end", "dominant-baseline": "middle" },
        c.variant,
      ),
      svg("line", { class: "forest-ci", x1: x(a), x2: x(b), y1: y, y2: y }),
      svg("line", { class: "forest-ci", x1: x(a), x2: x(a), y1: y - 6, y2: y + 6 }),
      svg("line", { class: "forest-ci", x1: x(b), x2: x(b), y1: y - 6, y2: y + 6 }),
      svg("circle", { class: "forest-point", cx: x(c.absoluteLift), cy: y, r: 5 }),
    );
    plot.append(g);
  });
  plot.append(svg("line", { class: "forest-axis", x1: labelWidth, x2: width - right, y1: bottom, y2: bottom }));
  const ticks = [[0, "middle"]];
  // The interval's ends, unless one sits on the zero line or too close to its label.
  if (Math.abs(x(least) - x(0)) >= 80) ticks.push([least, "start"]);
  if (Math.abs(x(most) - x(0)) >= 80) ticks.push([most, "end"]);
  for (const [v, anchor] of ticks) {
    const text = v === 0 ? "0" : lift(metric, v);
    plot.append(svg("text", { class: "forest-tick", x: x(v), y: bottom + 18, "text-anchor": anchor }, text));
  }
  return el("div", { class: "forest-wrap" }, plot);
}
