/**
 * Audiences: every audience with its size and backfill, and one audience —
 * its definition (the rule, the destinations' URLs; never their secrets),
 * its size over time (uPlot), its members a page at a time, its newest
 * entries and exits, and the deliveries its destinations never took.
 * Reads GET /v1/audiences[/:key[/members|/history|/deliveries]] (DESIGN §8).
 *
 * Refreshed on its own: each part is redrawn only when its data changed;
 * the period picked and the member pages loaded with "More" stay.
 */
import { api, el, number, percent, redraw, scrollableTable, section, table, when } from "../lib.js";

export const title = "Audiences";
export const refreshMs = 10_000;

const PERIODS = [
  { value: "days=1&bucket=hour", label: "24 hours" },
  { value: "days=7&bucket=hour", label: "7 days" },
  { value: "days=30&bucket=day", label: "30 days" },
  { value: "days=90&bucket=day", label: "90 days" },
];
const MEMBERS_PAGE = 50;
const CHART_HEIGHT = 220;

const link = (key, text) => el("a", { href: `#/audiences/${encodeURIComponent(key)}` }, text);
const person = (id) => el("a", { href: `#/people/${encodeURIComponent(id)}` }, id);

function backfillText(b) {
  if (!b) return "—";
  if (b.status === "done") return `done: ${number(b.total)} profiles, ${when(b.finishedAt)}`;
  return `running: ${number(b.done)} of ${number(b.total)} (${percent(b.total ? b.done / b.total : 0, 0)})`;
}

export async function render(page, arg, signal) {
  if (arg) return audience(page, arg, signal);
  let list = page.querySelector("[data-view='audiences']");
  if (!list) {
    list = el("div", { "data-view": "audiences" });
    page.replaceChildren(
      el("h1", {}, title),
      el(
        "p",
        { class: "muted" },
        "People enter and leave an audience as their events arrive (PUT /v1/audiences/:key). Open one to see who is in it.",
      ),
      section("All audiences", list),
    );
  }
  const audiences = await api("/v1/audiences", signal);
  redraw(list, audiences?.items ?? [], (items) =>
    table(
      null,
      ["Audience", "Key", "Size", "Backfill", "Destinations", "Updated"],
      items.map((a) => [
        link(a.key, a.name),
        a.key,
        number(a.size),
        backfillText(a.backfill),
        number(a.destinations.length),
        when(a.updatedAt),
      ]),
      "No audience yet.",
    ),
  );
}

/** One audience: its parts are built once per visit, then filled on every refresh. */
async function audience(page, key, signal) {
  let root = page.querySelector("[data-view='audience']");
  if (root?.dataset.key !== key) {
    root = el("div", { "data-view": "audience", "data-key": key });
    root.state = { key, period: PERIODS[1].value, members: null, chart: null };
    const state = root.state;
    const period = el(
      "select",
      { id: "audience-period", name: "period" },
      ...PERIODS.map((p) => el("option", { value: p.value, selected: p.value === state.period }, p.label)),
    );
    const parts = {
      definition: el("div", {}),
      sizeNote: el("p", { id: "audience-size-note" }),
      chart: el("div", {
        class: "size-chart",
        role: "img",
        id: "audience-size-chart",
        "aria-label": "Members over time (loading)",
      }),
      members: el("div", {}),
      transitions: el("div", {}),
      destinations: el("div", {}),
    };
    root.parts = parts;
    period.addEventListener("change", async () => {
      state.period = period.value;
      await fillHistory(root, signal);
    });
    root.append(
      section("Definition", parts.definition),
      section(
        "Size over time",
        el("div", { class: "actions" }, el("label", { for: "audience-period" }, "Period"), period),
        parts.sizeNote,
        parts.chart,
      ),
      section("Members", parts.members),
      section("Recent transitions", parts.transitions),
      section("Destinations and delivery failures", parts.destinations),
    );
    page.replaceChildren(el("h1", {}, title), el("p", {}, el("a", { href: "#/audiences" }, "All audiences")), root);
    // The chart and its observer go with the page.
    signal.addEventListener("abort", () => {
      state.observer?.disconnect();
      state.chart?.destroy();
    });
  }
  const path = `/v1/audiences/${encodeURIComponent(key)}`;
  const a = await api(path, signal);
  if (a === null) {
    root.parts.definition.replaceChildren(el("p", { role: "status" }, `No audience "${key}".`));
    return;
  }
  const { deliveries: _report, ...definition } = a;
  redraw(root.parts.definition, definition, definitionOf);
  await Promise.all([fillHistory(root, signal), fillMembers(root, signal), fillDeliveries(root, a, signal)]);
}

function definitionOf(a) {
  const backfill = a.backfill;
  return [
    el(
      "dl",
      { class: "facts" },
      ...[
        ["Name", a.name],
        ["Key", a.key],
        ["Members now", number(a.size)],
        [
          "Backfill",
          backfill
            ? el(
                "span",
                {},
                el("progress", {
                  max: Math.max(1, backfill.total),
                  value: backfill.done,
                  "aria-label": "Backfill progress",
                }),
                ` ${backfillText(backfill)}`,
              )
            : "—",
        ],
        ["Created", when(a.createdAt)],
        ["Updated", when(a.updatedAt)],
      ].flatMap(([k, v]) => [el("dt", {}, k), el("dd", { class: k === "Members now" ? "audience-size" : null }, v)]),
    ),
    el("h3", {}, "Rule"),
    el("pre", { class: "rule" }, JSON.stringify(a.rule, null, 2)),
  ];
}

async function fillHistory(root, signal) {
  const { state, parts } = root;
  const period = PERIODS.find((p) => p.value === state.period) ?? PERIODS[1];
  const history = await api(`/v1/audiences/${encodeURIComponent(state.key)}/history?${period.value}&limit=20`, signal);
  if (history === null || signal.aborted) return;
  const { until: _until, ...shown } = history;
  const sizes = history.sizes;
  const now = sizes.at(-1)?.size ?? 0;
  const highest = Math.max(0, ...sizes.map((p) => p.size));
  const summary = `${number(now)} members now; ${number(sizes[0]?.size)} ${period.label} ago, ${number(highest)} at most. ${number(history.entered)} entered and ${number(history.exited)} left in the last ${period.label}.`;
  parts.sizeNote.textContent = summary;
  parts.chart.setAttribute("aria-label", `Members over the last ${period.label}: ${summary}`);
  // The newest size point is "now": it moves on every read, so it alone is no reason to redraw.
  const key = JSON.stringify({ ...shown, sizes: sizes.slice(0, -1), now, period: period.value });
  if (state.chartKey !== key) {
    state.chartKey = key;
    drawChart(root, sizes);
  }
  redraw(parts.transitions, history.transitions, (items) =>
    table(
      null,
      ["When", "Person", "Change"],
      items.map((t) => [when(t.at), person(t.profileId), t.kind === "entered" ? "entered" : "left"]),
      `Nobody entered or left in the last ${period.label}.`,
    ),
  );
}

/** Size over time with uPlot, as wide as its box; a table when uPlot did not load. */
function drawChart(root, sizes) {
  const { state, parts } = root;
  const xs = sizes.map((p) => Date.parse(p.at) / 1000);
  const ys = sizes.map((p) => p.size);
  const uPlot = window.uPlot;
  if (!uPlot) {
    parts.chart.replaceChildren(
      table(
        null,
        ["When", "Members"],
        sizes.map((p) => [when(p.at), number(p.size)]),
      ),
    );
    return;
  }
  if (state.chart) {
    state.chart.setData([xs, ys]);
    return;
  }
  const muted = "#5b6475";
  const grid = { stroke: "#d9dde5", width: 1 };
  state.chart = new uPlot(
    {
      width: Math.max(280, parts.chart.clientWidth),
      height: CHART_HEIGHT,
      legend: { show: false },
      cursor: { show: false },
      scales: { y: { range: (_u, _min, max) => [0, Math.max(1, Math.ceil(max * 1.1))] } },
      axes: [
        { stroke: muted, grid },
        {
          stroke: muted,
          grid,
          // Whole people only.
          incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 1e7],
          values: (_u, ticks) => ticks.map((t) => number(t)),
        },
      ],
      series: [{}, { label: "Members", stroke: "#2457c5", width: 2, fill: "rgba(36, 87, 197, 0.08)" }],
    },
    [xs, ys],
    parts.chart,
  );
  state.observer = new ResizeObserver(() => {
    const width = Math.max(280, parts.chart.clientWidth);
    if (state.chart && Math.abs(state.chart.width - width) > 1) state.chart.setSize({ width, height: CHART_HEIGHT });
  });
  state.observer.observe(parts.chart);
}

/** Members in order of entry; "More" loads the next page. Once paged, a refresh keeps the pages as they are. */
async function fillMembers(root, signal) {
  const { state, parts } = root;
  if (state.members?.paged) return;
  const first = await api(`/v1/audiences/${encodeURIComponent(state.key)}/members?limit=${MEMBERS_PAGE}`, signal);
  if (first === null || signal.aborted) return;
  state.members = { items: first.items, next: first.next, paged: false };
  redraw(parts.members, state.members, () => membersTable(root, signal));
}

function membersTable(root, signal) {
  const { state } = root;
  const { items, next } = state.members;
  const more = el("button", { type: "button", class: "secondary", id: "audience-more" }, "More");
  more.addEventListener("click", async () => {
    more.disabled = true;
    const page = await api(
      `/v1/audiences/${encodeURIComponent(state.key)}/members?limit=${MEMBERS_PAGE}&cursor=${encodeURIComponent(next)}`,
      signal,
    );
    if (page === null || signal.aborted) return;
    const shown = items.length;
    state.members = { items: [...items, ...page.items], next: page.next, paged: true };
    redraw(root.parts.members, state.members, () => membersTable(root, signal));
    // Focus the first person of the new page, where reading goes on.
    root.parts.members.querySelectorAll("tbody a")[shown]?.focus();
  });
  return [
    el("p", { class: "muted" }, `Showing ${number(items.length)} in order of entry.`),
    table(
      null,
      ["Person", "Entered"],
      items.map((m) => [person(m.profileId), when(m.enteredAt)]),
      "Nobody is in this audience yet.",
    ),
    next ? more : "",
  ];
}

/** Each destination's URL and its dead letters; the newest failures with their errors. */
async function fillDeliveries(root, audience, signal) {
  const { state, parts } = root;
  const report = await api(`/v1/audiences/${encodeURIComponent(state.key)}/deliveries?limit=20`, signal);
  if (report === null || signal.aborted) return;
  const { key: _key, next: _next, ...shown } = report;
  const data = { destinations: audience.destinations, ...shown };
  redraw(parts.destinations, data, () => {
    const dead = new Map(report.byDestination.map((d) => [d.destination, d]));
    return [
      el(
        "p",
        {},
        `${number(report.delivered)} transitions delivered, ${number(report.dead)} dead letters (not delivered after the last retry).`,
      ),
      scrollableTable(
        "Destinations",
        ["URL", "Type", "Dead letters", "Last failure"],
        audience.destinations.map((d) => [
          d.url,
          d.type,
          number(dead.get(d.url)?.dead ?? 0),
          when(dead.get(d.url)?.lastDeadAt),
        ]),
        "No destination: transitions are on each person's timeline only.",
      ),
      table(
        "Newest failures",
        ["When", "Destination", "Person", "Attempts", "Last error"],
        report.items.map((i) => [
          when(i.at),
          i.destination,
          person(i.profileId),
          number(i.attempts),
          i.lastError ?? "—",
        ]),
        "No delivery has failed.",
      ),
    ];
  });
}
