/**
 * A person's sessions on a time axis: one bar per session from its start to
 * its end, newest at the right, drawn as SVG with classes (the CSP allows no
 * inline style), with a sentence for screen readers and a tooltip per bar.
 */
import { el, svg } from "../lib.js";

const WIDTH = 1000;
const ROW = 22;

export function sessionTimeline(sessions) {
  if (sessions.length === 0) return el("p", { class: "muted" }, "No sessions yet.");
  const spans = sessions
    .map((s) => ({ s, from: Date.parse(s.startedAt), to: Date.parse(s.endedAt) }))
    .sort((a, b) => a.from - b.from);
  const start = spans[0].from;
  const end = Math.max(...spans.map((x) => x.to), start + 60_000);
  const x = (t) => 10 + ((t - start) / (end - start)) * (WIDTH - 20);
  const height = 30 + ROW;
  const chart = svg("svg", {
    viewBox: `0 0 ${WIDTH} ${height}`,
    class: "timeline",
    role: "img",
    "aria-label": `${sessions.length} sessions from ${new Date(start).toLocaleString()} to ${new Date(end).toLocaleString()}`,
  });
  chart.append(svg("line", { x1: 10, x2: WIDTH - 10, y1: ROW + 6, y2: ROW + 6, class: "timeline-axis" }));
  for (const { s, from, to } of spans) {
    const bar = svg("rect", {
      x: x(from),
      y: 6,
      width: Math.max(4, x(to) - x(from)),
      height: ROW - 6,
      rx: 3,
      class: "timeline-bar",
    });
    bar.append(
      svg(
        "title",
        {},
        `Session #${s.number}: ${new Date(from).toLocaleString()} – ${new Date(to).toLocaleTimeString()}, ${s.events} events, ${s.pages} pages`,
      ),
    );
    chart.append(bar);
  }
  chart.append(
    svg("text", { x: 10, y: height - 4, class: "timeline-label" }, new Date(start).toLocaleString()),
    svg(
      "text",
      { x: WIDTH - 10, y: height - 4, class: "timeline-label", "text-anchor": "end" },
      new Date(end).toLocaleString(),
    ),
  );
  return chart;
}
