/**
 * Data quality: the quality runs (start one, follow it until it finishes,
 * read each check), what broke the tracking plan, and the pairs of people
 * that look like one person, each mergeable after a confirmation.
 */
import {
  api,
  badge,
  el,
  failure,
  number,
  pause,
  scrollableTable,
  section,
  send,
  statusLine,
  table,
  when,
} from "../lib.js";

export const title = "Data quality";

/** How often a running run is read again: each check reads the warehouse, a run takes seconds. */
const POLL_MS = 1000;

/** A bound as the check states it: "warn above 5 · fail above 10 (pairs)"; null is unbounded. */
function thresholdText(check) {
  const { warn, fail, direction } = check.threshold ?? {};
  const parts = [];
  if (warn != null) parts.push(`warn ${direction} ${number(warn, 2)}`);
  if (fail != null) parts.push(`fail ${direction} ${number(fail, 2)}`);
  return parts.length ? parts.join(" · ") : "none";
}

/** A check's sample rows, folded: a few offending rows to start looking from. */
function sampleOf(check) {
  const rows = check.sample ?? [];
  if (rows.length === 0) return "—";
  return el(
    "details",
    {},
    el("summary", {}, `${rows.length} row${rows.length === 1 ? "" : "s"}`),
    el("pre", {}, JSON.stringify(rows, null, 2)),
  );
}

function checksTable(run) {
  if (!run) return el("p", { class: "muted" }, "No quality run yet: run the checks to see them.");
  if (run.status === "running") return el("p", { class: "muted" }, `Run ${run.id} is running…`);
  const observed = (c) => (c.observed == null ? "—" : `${number(c.observed, 2)}${c.unit ? ` ${c.unit}` : ""}`);
  return el(
    "div",
    {},
    el(
      "p",
      {},
      "Run ",
      el("code", {}, run.id),
      ": ",
      badge(run.status),
      ` · started ${when(run.startedAt)} · finished ${when(run.finishedAt)}`,
    ),
    run.error ? el("p", { class: "error" }, run.error) : "",
    scrollableTable(
      null,
      ["Check", "Status", "Observed", "Threshold", "Detail", "Sample"],
      run.checks.map((c) => [c.check, badge(c.status), observed(c), thresholdText(c), c.detail, sampleOf(c)]),
      "This run has no checks.",
      "Checks of the run",
    ),
  );
}

function violationsPart(page) {
  if (page.version === null) {
    return [el("p", { class: "muted" }, "No tracking plan has been saved (PUT /v1/tracking-plan sets one).")];
  }
  return [
    el("p", {}, `Counted against tracking plan version ${page.version}.`),
    scrollableTable(
      "Violations by event, property and kind",
      ["Event", "Property", "Kind", "Count", "Last seen"],
      page.counts.map((n) => [n.event, n.property || "(the event)", n.kind, number(n.count), when(n.lastAt)]),
      "Nothing has broken this plan.",
    ),
    page.items.length === 0
      ? ""
      : scrollableTable(
          "Newest offending messages",
          ["Received", "Event", "Action", "Violations", "User"],
          page.items.map((v) => [
            when(v.receivedAt),
            v.event,
            v.action,
            v.violations.map((x) => `${x.property || "(event)"}: ${x.message}`).join("; "),
            v.userId ?? v.anonymousId ?? "—",
          ]),
        ),
  ];
}

/** Data quality: runs and their checks, tracking-plan violations, duplicate people with a merge. */
export async function render(page, _arg, signal) {
  const runStatus = statusLine("quality-run-status");
  const mergeStatus = statusLine("merge-status");
  const runButton = el("button", { type: "button", id: "run-checks" }, "Run checks now");
  const runsPart = el("div", {});
  const checksPart = el("div", { id: "quality-checks" });
  const violations = el("div", { id: "violations" });
  const duplicates = el("div", { id: "duplicates" });
  page.replaceChildren(
    el("h1", {}, title),
    section("Quality runs", el("div", { class: "actions" }, runButton, runStatus), runsPart),
    section("Checks", checksPart),
    section("Tracking plan violations", violations),
    section("Duplicate people", mergeStatus, duplicates),
  );

  let selected = null;

  async function showRuns() {
    const runs = (await api("/v1/quality/runs?limit=10", signal))?.items ?? [];
    runsPart.replaceChildren(
      table(
        null,
        ["Started", "Trigger", "Status", "Finished", "Checks"],
        runs.map((r) => {
          const show = el(
            "button",
            {
              type: "button",
              class: "secondary",
              "aria-label": `Show the checks of the run started ${when(r.startedAt)}`,
            },
            "Show",
          );
          show.addEventListener("click", () => select(r).catch(reportTo(runStatus)));
          return [when(r.startedAt), r.trigger, badge(r.status), when(r.finishedAt), show];
        }),
        "No quality run yet.",
      ),
    );
    return runs;
  }

  /** Shows a run's checks; while it runs, reads that run (and only it) again until it ends. */
  async function select(run) {
    selected = run;
    checksPart.replaceChildren(checksTable(run));
    while (selected?.id === run.id && selected.status === "running" && !signal.aborted) {
      await pause(POLL_MS, signal);
      if (signal.aborted || selected?.id !== run.id) return;
      const again = await api(`/v1/quality/runs/${encodeURIComponent(run.id)}`, signal);
      if (!again) return;
      selected = again;
      if (again.status !== "running") {
        runStatus.textContent = `Run ${again.id} finished: ${again.status}.`;
        await showRuns();
      }
      checksPart.replaceChildren(checksTable(again));
    }
  }

  runButton.addEventListener("click", async () => {
    runButton.disabled = true;
    runStatus.textContent = "Starting a run…";
    try {
      const started = await send("POST", "/v1/quality/runs");
      if (!started.ok) {
        runStatus.textContent = `Could not start a run: ${failure(started)}`;
        return;
      }
      runStatus.textContent = `Run ${started.body.id} is running…`;
      await showRuns();
      await select({ id: started.body.id, status: "running" });
    } catch (err) {
      reportTo(runStatus)(err);
    } finally {
      runButton.disabled = false;
    }
  });

  function reportTo(line) {
    return (err) => {
      if (!signal.aborted) line.textContent = `Something went wrong: ${err.message}`;
    };
  }

  async function showDuplicates() {
    const found = await api("/v1/quality/duplicates?limit=50", signal);
    const pairs = found?.items ?? [];
    duplicates.replaceChildren(
      el("p", { class: "muted" }, `${number(found?.compared)} profile${found?.compared === 1 ? "" : "s"} compared.`),
      table(
        null,
        ["Profile A", "Profile B", "Score", "Evidence", "Action"],
        pairs.map((pair) => {
          const merge = el(
            "button",
            { type: "button", class: "secondary", "aria-label": `Merge ${pair.a} and ${pair.b}` },
            "Merge…",
          );
          merge.addEventListener("click", () => confirmMerge(pair, merge));
          return [
            pair.a,
            pair.b,
            number(pair.score, 2),
            el("ul", { class: "evidence" }, ...pair.evidence.map((e) => el("li", {}, `${e.kind}: ${e.detail}`))),
            merge,
          ];
        }),
        "No pairs look like one person.",
      ),
    );
  }

  /** The confirmation step: which profile remains, why, and that the merge cannot be undone. */
  function confirmMerge(pair, opener) {
    duplicates.querySelector("#merge-confirm")?.remove();
    const keep = el(
      "select",
      { id: "merge-into" },
      el("option", { value: pair.a }, pair.a),
      el("option", { value: pair.b }, pair.b),
    );
    const reason = el("input", {
      id: "merge-reason",
      type: "text",
      value: `duplicate found by the quality check (score ${number(pair.score, 2)})`,
      maxlength: "500",
    });
    const confirm = el("button", { type: "button", id: "merge-confirm-button" }, "Merge them");
    const cancel = el("button", { type: "button", class: "secondary" }, "Cancel");
    const panel = el(
      "div",
      { id: "merge-confirm", class: "confirm", role: "group", "aria-labelledby": "merge-confirm-title" },
      el("h3", { id: "merge-confirm-title" }, `Merge ${pair.a} and ${pair.b}?`),
      el(
        "p",
        {},
        "The other profile's events, traits and identities move to the one kept, and its id reads that person from then on. A merge cannot be undone.",
      ),
      el("label", { for: "merge-into" }, "Keep"),
      keep,
      el("label", { for: "merge-reason" }, "Reason (kept in the merge audit)"),
      reason,
      el("div", { class: "actions" }, confirm, cancel),
    );
    cancel.addEventListener("click", () => {
      panel.remove();
      opener.focus();
    });
    confirm.addEventListener("click", async () => {
      const into = keep.value;
      const from = into === pair.a ? pair.b : pair.a;
      confirm.disabled = true;
      mergeStatus.textContent = `Merging ${from} into ${into}…`;
      try {
        const result = await send("POST", "/v1/profiles/merge", {
          from,
          into,
          reason: reason.value.trim() || undefined,
        });
        mergeStatus.textContent = result.ok
          ? `Merged ${result.body.from} into ${result.body.into} (audit #${result.body.id}).`
          : `The merge was refused: ${failure(result)}`;
        panel.remove();
        await showDuplicates();
      } catch (err) {
        reportTo(mergeStatus)(err);
      } finally {
        confirm.disabled = false;
      }
    });
    duplicates.prepend(panel);
    keep.focus();
  }

  const [runs] = await Promise.all([
    showRuns(),
    api("/v1/tracking-plan/violations?limit=10", signal).then((v) =>
      violations.replaceChildren(...violationsPart(v ?? { version: null })),
    ),
    showDuplicates(),
  ]);
  // The newest run's checks; one still running is followed until it ends (not awaited: the page is shown).
  if (runs[0]) select(runs[0]).catch(reportTo(runStatus));
  else checksPart.replaceChildren(checksTable(null));
}
