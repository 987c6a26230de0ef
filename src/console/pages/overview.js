/**
 * Overview: the service's health at a glance, refreshed on its own — events
 * per minute (accepted, rejected, suppressed, throttled), merge calls per
 * minute, sink lag, dead letters and open quarantine over the last hour
 * (GET /v1/metrics/series, drawn by uPlot), quarantine by reason and the
 * latest quality run.
 */
import { api, badge, bars, el, number, scrollableTable, section, stat } from "../lib.js";

export const title = "Overview";
export const refreshMs = 10_000;

const MINUTES = 60;

/** The charts, by id, kept across refreshes so each refresh only swaps their data. */
const charts = new Map();

/** Adds up every labelled series of one metric (rejections of every reason, merge calls of every strategy). */
function summed(body, metric) {
  const out = body.minutes.map(() => null);
  for (const s of body.series) {
    if (s.metric !== metric) continue;
    s.values.forEach((v, i) => {
      if (v != null) out[i] = (out[i] ?? 0) + v;
    });
  }
  // A counter nobody counted in the window is zero throughout.
  if (metric.endsWith("_total")) return out.map((v) => v ?? 0);
  // A gauge is a gap where the cron took no sample (dead letters are sampled every time); where it did, a
  // quarantine reason with nothing open has no row: that is 0.
  const sampled = body.series.find((s) => s.metric === "sink_dead_letters")?.values ?? [];
  return out.map((v, i) => v ?? (sampled[i] != null && metric === "quarantine_messages" ? 0 : null));
}

const CHARTS = [
  {
    id: "chart-events",
    title: "Events per minute",
    lines: [
      ["Accepted", "events_accepted_total", "#2457c5"],
      ["Rejected", "events_rejected_total", "#b3261e"],
      ["Suppressed", "events_suppressed_total", "#8a5a00"],
      ["Throttled", "events_throttled_total", "#6b4fa3"],
    ],
  },
  { id: "chart-merge", title: "Merge calls per minute", lines: [["Merge calls", "merge_calls_total", "#1b7a3a"]] },
  { id: "chart-lag", title: "Sink lag (seconds)", lines: [["Sink lag", "sink_lag_seconds", "#2457c5"]] },
  {
    id: "chart-backlog",
    title: "Dead letters and open quarantine",
    lines: [
      ["Dead letters", "sink_dead_letters", "#b3261e"],
      ["Quarantined", "quarantine_messages", "#8a5a00"],
    ],
  },
];

/** What a screen reader hears for a chart: each line's total or latest value over the window. */
function describe(spec, data) {
  const parts = spec.lines.map(([label, metric], i) => {
    const values = data[i + 1].filter((v) => v != null);
    if (values.length === 0) return `${label}: no data`;
    const latest = values.at(-1);
    return metric.endsWith("_total")
      ? `${label}: ${number(values.reduce((a, b) => a + b, 0))} in the last ${MINUTES} minutes, ${number(latest)} in the latest minute`
      : `${label}: ${number(latest, 1)} now`;
  });
  return `${spec.title}. ${parts.join("; ")}.`;
}

function chartWidth(node) {
  return Math.max(260, Math.floor(node.getBoundingClientRect().width) - 8);
}

/** Draws (or refreshes) one chart in its card. */
function drawChart(card, spec, body) {
  const data = [body.minutes, ...spec.lines.map(([, metric]) => summed(body, metric))];
  const holder = card.querySelector(".chart");
  holder.setAttribute("aria-label", describe(spec, data));
  const held = charts.get(spec.id);
  if (held && holder.contains(held.root)) {
    held.setData(data);
    return;
  }
  if (typeof globalThis.uPlot !== "function") {
    holder.textContent = "Charts are loading…";
    return;
  }
  holder.replaceChildren();
  const plot = new globalThis.uPlot(
    {
      width: chartWidth(holder),
      height: 180,
      series: [
        {},
        ...spec.lines.map(([label, metric, stroke]) => ({
          label,
          stroke,
          width: 2,
          spanGaps: false,
          // A gauge is sampled once a minute, with gaps: each sample is drawn as a dot, so a lone one shows.
          ...(metric.endsWith("_total") ? {} : { points: { show: true, size: 6, fill: stroke } }),
        })),
      ],
      axes: [{}, { size: 56 }],
      // From zero, with headroom above the highest point (and at least 0–1 when all is quiet).
      scales: { y: { range: (_u, _min, max) => [0, Math.max(1, (max ?? 0) * 1.15)] } },
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
    },
    data,
    holder,
  );
  charts.set(spec.id, plot);
  plot.observer = new ResizeObserver(() => plot.setSize({ width: chartWidth(holder), height: 180 }));
  plot.observer.observe(holder);
}

function chartCard(spec) {
  const card = section(spec.title, el("div", { class: "chart", role: "img", id: spec.id }));
  card.classList.add("chart-card");
  return card;
}

export async function render(page) {
  const [sink, quarantine, runs, series] = await Promise.all([
    api("/v1/sink/status"),
    api("/v1/quarantine?limit=1&status=open"),
    api("/v1/quality/runs?limit=1"),
    api(`/v1/metrics/series?minutes=${MINUTES}`),
  ]);
  if (!page.querySelector("#overview-cards")) {
    page.replaceChildren(
      el("h1", {}, title),
      el("div", { id: "overview-cards", class: "grid" }),
      el("div", { class: "charts" }, ...CHARTS.map(chartCard)),
      el("div", { id: "overview-quarantine" }),
      el("div", { id: "overview-quality" }),
    );
    for (const chart of charts.values()) {
      chart.observer.disconnect();
      chart.destroy();
    }
    charts.clear();
  }
  const quality = runs?.items?.[0] ?? null;
  const lag = sink?.consumer?.lastLagMs;
  page
    .querySelector("#overview-cards")
    .replaceChildren(
      stat("Events in the warehouse", number(sink?.tables?.events)),
      stat("Profiles", number(sink?.tables?.profiles)),
      stat(
        "Sink lag",
        lag == null ? "—" : `${(lag / 1000).toFixed(1)} s`,
        sink?.consumer?.lastBatchAt
          ? `last batch ${new Date(sink.consumer.lastBatchAt).toLocaleTimeString()}`
          : "no batch yet",
      ),
      stat("Dead letters", number(sink?.deadLetters)),
      stat("Suppressed events", number(sink?.suppressedEvents)),
    );
  for (const spec of CHARTS) drawChart(page.querySelector(`#${spec.id}`).closest("section"), spec, series);

  const reasons = Object.entries(quarantine?.counts?.byReason ?? {}).sort(([, a], [, b]) => b.open - a.open);
  page.querySelector("#overview-quarantine").replaceChildren(
    section(
      "Quarantine by reason",
      reasons.length === 0
        ? el("p", { class: "muted" }, "Nothing quarantined.")
        : el(
            "div",
            {},
            bars(
              "Open quarantined messages by reason",
              reasons.map(([reason, n]) => ({ label: reason, value: n.open })),
            ),
            scrollableTable(
              null,
              ["Reason", "Open", "Total"],
              reasons.map(([reason, n]) => [reason, number(n.open), number(n.total)]),
              "",
              "Quarantine by reason",
            ),
            el("p", {}, el("a", { href: "#/quarantine" }, "Browse and replay the quarantine")),
          ),
    ),
  );
  page.querySelector("#overview-quality").replaceChildren(
    section(
      "Latest quality run",
      quality === null
        ? el("p", { class: "muted" }, "No quality run yet.")
        : el(
            "div",
            {},
            el("p", {}, "Status: ", badge(quality.status), ` · ${quality.finishedAt ?? "running"}`),
            scrollableTable(
              null,
              ["Check", "Status", "Detail"],
              quality.checks.map((c) => [c.check, badge(c.status), c.detail]),
              "",
              "Latest quality run's checks",
            ),
          ),
    ),
  );
}
