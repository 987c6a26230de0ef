/**
 * Experiments: every experiment with its status, and one experiment's
 * results (GET /v1/experiments/:id/results, DESIGN §7) — each variant's
 * recipients and rates, each variant's lift over the control as an interval
 * chart per metric, whether a difference is real by the always-valid
 * sequential test, and whether the split itself worked (SRM) — with Stop,
 * and a new run of a stopped experiment.
 *
 * Refreshed on its own: each part is redrawn only when its data changed, and
 * the actions only when the status did, so a focused button or a half-typed
 * id survives a refresh.
 */
import {
  api,
  badge,
  el,
  failure,
  number,
  percent,
  redraw,
  scrollableTable,
  section,
  send,
  statusLine,
  table,
  when,
} from "../lib.js";
import { ALPHA, forestPlot, isRate, isReal, lift } from "./lift-chart.js";

export const title = "Experiments";
export const refreshMs = 10_000;

const METRICS = {
  clickRate: "Click rate",
  conversionRate: "Conversion rate",
  revenuePerRecipient: "Revenue per recipient",
};

const link = (id) => el("a", { href: `#/experiments/${encodeURIComponent(id)}` }, id);
const pValue = (p) => (typeof p !== "number" ? "—" : p < 0.001 ? "< 0.001" : p.toFixed(3));
const value = (metric, x) => (isRate(metric) ? percent(x, 2) : number(x, 2));
const relative = (x) => (typeof x !== "number" ? "—" : `${x > 0 ? "+" : ""}${(x * 100).toFixed(1)}%`);

function verdict(c, results) {
  const name = METRICS[c.metric].toLowerCase();
  const seq = `sequential p = ${pValue(c.sequentialPValue)}`;
  if (isReal(c, results)) {
    return `${c.variant} ${c.absoluteLift > 0 ? "beats" : "trails"} ${results.control} on ${name} by ${lift(c.metric, c.absoluteLift)}: the difference is real (${seq} < ${ALPHA}).`;
  }
  if (!results.enoughData) {
    return `${c.variant} against ${results.control} on ${name}: not enough data yet to call it (${seq}; every variant needs 100 recipients).`;
  }
  return `${c.variant} against ${results.control} on ${name}: no real difference yet (${seq}, not below ${ALPHA}).`;
}

export async function render(page, arg, signal) {
  if (arg) return experiment(page, arg, signal);
  let list = page.querySelector("[data-view='experiments']");
  if (!list) {
    list = el("div", { "data-view": "experiments" });
    page.replaceChildren(
      el("h1", {}, title),
      el(
        "p",
        { class: "muted" },
        "An experiment runs from the moment it is created (POST /v1/experiments). Open one to read its results.",
      ),
      section("All experiments", list),
    );
  }
  const experiments = await api("/v1/experiments", signal);
  redraw(list, experiments?.items ?? [], (items) =>
    table(
      null,
      ["Experiment", "Name", "Status", "Campaign", "Control", "Variants", "Created", "Stopped"],
      items.map((x) => [
        link(x.id),
        x.name ?? "—",
        badge(x.status),
        x.campaign ?? "—",
        x.control,
        x.variants.map((v) => v.key).join(", "),
        when(x.createdAt),
        when(x.stoppedAt),
      ]),
      "No experiment yet.",
    ),
  );
}

/** One experiment: its definition and actions, its results, and the lift of each metric. */
async function experiment(page, id, signal) {
  let root = page.querySelector("[data-view='experiment']");
  if (root?.dataset.id !== id) {
    root = el("div", { "data-view": "experiment", "data-id": id });
    const parts = {
      facts: el("div", {}),
      actions: el("div", {}),
      status: statusLine("experiment-status"),
      summary: el("div", {}),
      variants: el("div", {}),
      lift: el("div", {}),
    };
    parts.status.setAttribute("tabindex", "-1");
    root.append(
      section(`Experiment ${id}`, parts.facts, parts.actions, parts.status),
      section("Results", parts.summary, parts.variants),
      section("Lift against the control", parts.lift),
    );
    page.replaceChildren(el("h1", {}, title), el("p", {}, el("a", { href: "#/experiments" }, "All experiments")), root);
    root.parts = parts;
  }
  const parts = root.parts;
  const path = `/v1/experiments/${encodeURIComponent(id)}`;
  // The timer's refresh and an action's may overlap: only the newest read draws, never an older answer over it.
  root.reads = (root.reads ?? 0) + 1;
  const read = root.reads;
  const [definition, results] = await Promise.all([api(path, signal), api(`${path}/results`, signal)]);
  if (read !== root.reads) return;
  if (definition === null || results === null) {
    parts.facts.replaceChildren(el("p", { role: "status" }, `No experiment "${id}".`));
    return;
  }
  const refresh = () => experiment(page, id, signal);
  redraw(parts.facts, definition, facts);
  redraw(parts.actions, definition.status, () => actions(definition, parts.status, refresh));
  // asOf moves on every read of a running experiment: shown, but not a reason to redraw.
  const { asOf, ...counted } = results;
  redraw(parts.summary, { ...counted, stoppedAt: definition.stoppedAt }, () => summary(results));
  redraw(parts.variants, counted, () => variantsTable(results));
  redraw(parts.lift, counted, () => liftByMetric(results, parts.lift.clientWidth));
  let asOfLine = parts.summary.querySelector(".as-of");
  if (!asOfLine) {
    asOfLine = el("p", { class: "muted as-of" });
    parts.summary.append(asOfLine);
  }
  asOfLine.textContent =
    results.status === "stopped" ? `Frozen at the stop, ${when(asOf)}.` : `Counted as of ${when(asOf)}.`;
}

function facts(x) {
  return el(
    "dl",
    { class: "facts" },
    ...[
      ["Status", badge(x.status)],
      ["Name", x.name ?? "—"],
      ["Campaign", x.campaign ?? "—"],
      ["Control", x.control],
      ["Variants", x.variants.map((v) => `${v.key} (${v.strategy}, weight ${number(v.weight, 2)})`).join(" · ")],
      ["Conversion", `${x.conversionEvent} within ${x.attributionWindowDays} days of the first exposure`],
      ["Created", when(x.createdAt)],
      ["Stopped", when(x.stoppedAt)],
    ].flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]),
  );
}

/** Stop for a running experiment (confirmed first: it cannot be undone); a new run for a stopped one. */
function actions(x, status, refresh) {
  if (x.status === "running") {
    const stop = el("button", { type: "button", id: "experiment-stop" }, "Stop experiment");
    const box = el("div", { class: "actions" }, stop);
    stop.addEventListener("click", () => {
      const confirm = el("button", { type: "button", id: "experiment-stop-confirm" }, "Stop now");
      const cancel = el("button", { type: "button", class: "secondary" }, "Keep running");
      box.replaceChildren(
        el(
          "p",
          { id: "experiment-stop-warning" },
          "Stopping is final: the results freeze now and every recipient gets the control.",
        ),
        confirm,
        cancel,
      );
      confirm.setAttribute("aria-describedby", "experiment-stop-warning");
      confirm.focus();
      cancel.addEventListener("click", () => {
        box.replaceChildren(stop);
        stop.focus();
      });
      confirm.addEventListener("click", async () => {
        confirm.disabled = true;
        cancel.disabled = true;
        const result = await sendOrSay("POST", `/v1/experiments/${encodeURIComponent(x.id)}/stop`);
        if (result.ok) {
          status.textContent = `Stopped ${x.id} at ${when(result.body?.stoppedAt)}: its results are frozen and every recipient now gets the control.`;
          await refresh();
          status.focus();
        } else {
          status.textContent = `Could not stop ${x.id}: ${failure(result)}`;
          box.replaceChildren(stop);
          stop.focus();
        }
      });
    });
    return box;
  }
  // A stopped experiment stays stopped (its results are frozen); testing again is a new experiment.
  const input = el("input", {
    id: "experiment-rerun-id",
    name: "id",
    required: true,
    pattern: "[a-z0-9\\-]{1,64}",
    autocomplete: "off",
    spellcheck: "false",
    value: nextRunId(x.id),
  });
  const form = el(
    "form",
    { class: "actions", "aria-describedby": "experiment-rerun-note" },
    el("label", { for: "experiment-rerun-id" }, "New experiment id"),
    input,
    el("button", { type: "submit" }, "Start a new run"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const id = input.value.trim();
    const result = await sendOrSay("POST", "/v1/experiments", rerunOf(x, id));
    if (!result.ok) {
      status.textContent = `Could not start ${id}: ${failure(result)}`;
      return;
    }
    status.textContent = `Started ${id}, running now with the variants of ${x.id}.`;
    location.hash = `#/experiments/${encodeURIComponent(id)}`;
  });
  return [
    el(
      "p",
      { id: "experiment-rerun-note", class: "muted" },
      "A stopped experiment is not started again: its results stay frozen. To test again, start a new run with the same variants under a new id.",
    ),
    form,
  ];
}

/** A request that could not reach the service is an answer too: the status line says so. */
async function sendOrSay(method, path, body) {
  try {
    return await send(method, path, body);
  } catch (err) {
    return {
      ok: false,
      status: 0,
      body: { error: { message: `the request did not reach the service (${err.message})` } },
    };
  }
}

/** `spring-recs` → `spring-recs-2`, `spring-recs-2` → `spring-recs-3`. */
function nextRunId(id) {
  const m = /^(.*)-(\d+)$/.exec(id);
  const next = m ? `${m[1]}-${Number(m[2]) + 1}` : `${id}-2`;
  return next.slice(0, 64);
}

function rerunOf(x, id) {
  return {
    id,
    ...(x.name ? { name: x.name } : {}),
    ...(x.campaign ? { campaign: x.campaign } : {}),
    control: x.control,
    variants: x.variants,
    conversionEvent: x.conversionEvent,
    attributionWindowDays: x.attributionWindowDays,
  };
}

function summary(r) {
  const recipients = r.variants.map((v) => `${v.key} ${number(v.recipients)}`).join(", ");
  const weights = r.variants.map((v) => number(v.weight, 2)).join(" : ");
  const srm = r.srm.mismatch
    ? el(
        "p",
        { class: "warning", role: "alert" },
        `Sample ratio mismatch: recipients split ${recipients}, not in the ratio of the weights ${weights} (p = ${pValue(r.srm.pValue)}). Assignment or tracking is off; do not trust these results until it is found.`,
      )
    : el(
        "p",
        { class: "status-pass" },
        `The split matches the weights ${weights} (sample-ratio check p = ${pValue(r.srm.pValue)}).`,
      );
  const enough = r.enoughData
    ? el("p", {}, "Every variant has at least 100 recipients: the comparisons below can be read.")
    : el(
        "p",
        { class: "status-warn" },
        "Not enough data yet: every variant needs at least 100 recipients before a difference is called.",
      );
  return [srm, enough];
}

function variantsTable(r) {
  return scrollableTable(
    "Variants",
    [
      "Variant",
      "Strategy",
      "Recipients",
      "Openers",
      "Clickers",
      "Conversions",
      "Revenue",
      "Open rate",
      "Click rate",
      "Conversion rate",
      "Revenue per recipient",
    ],
    r.variants.map((v) => [
      v.key === r.control ? `${v.key} (control)` : v.key,
      v.strategy,
      number(v.recipients),
      number(v.openers),
      number(v.clickers),
      number(v.conversions),
      number(v.revenue, 2),
      percent(v.openRate, 2),
      percent(v.clickRate, 2),
      percent(v.conversionRate, 2),
      number(v.revenuePerRecipient, 2),
    ]),
    "No variant.",
  );
}

function liftByMetric(r, width) {
  if (r.comparisons.length === 0) {
    return el("p", { class: "muted" }, "No comparison yet: the control and at least one variant need recipients.");
  }
  return Object.entries(METRICS).flatMap(([metric, label]) => {
    const rows = r.comparisons.filter((c) => c.metric === metric);
    if (rows.length === 0) return [];
    return [
      el(
        "div",
        { class: "metric" },
        el("h3", {}, label),
        forestPlot(metric, label, rows, r, width),
        scrollableTable(
          null,
          [
            "Variant",
            "Value",
            `Control (${r.control})`,
            "Lift",
            "Relative lift",
            "95% interval of the lift",
            "p-value",
            "Probability to beat the control",
            "Sequential p-value",
          ],
          rows.map((c) => [
            c.variant,
            value(metric, c.value),
            value(metric, c.control),
            lift(metric, c.absoluteLift),
            relative(c.relativeLift),
            `${lift(metric, c.ci95[0])} to ${lift(metric, c.ci95[1])}`,
            pValue(c.pValue),
            percent(c.probabilityToBeatControl, 1),
            pValue(c.sequentialPValue),
          ]),
          "",
          `${label}: each variant against the control`,
        ),
        el("ul", { class: "verdicts" }, ...rows.map((c) => el("li", {}, verdict(c, r)))),
      ),
    ];
  });
}
