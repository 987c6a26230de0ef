/** Overview: the service's health at a glance, refreshed on its own. */
import { api, el, number, stat, table } from "../lib.js";

export const title = "Overview";
export const refreshMs = 10_000;

/** Overview: the sink, the quarantine and the latest quality run, refreshed on their own. */
export async function render(page) {
  const [sink, quarantine, runs] = await Promise.all([
    api("/v1/sink/status"),
    api("/v1/quarantine?limit=1&status=open"),
    api("/v1/quality/runs?limit=1"),
  ]);
  const quality = runs?.items?.[0] ?? null;
  const lag = sink?.consumer?.lastLagMs;
  const cards = el(
    "div",
    { class: "grid" },
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
  const reasons = Object.entries(quarantine?.counts?.byReason ?? {});
  const quarantineTable = el(
    "section",
    { class: "card", "aria-labelledby": "q-title" },
    el("h2", { id: "q-title" }, "Quarantine by reason"),
    reasons.length === 0
      ? el("p", { class: "muted" }, "Nothing quarantined.")
      : table(
          null,
          ["Reason", "Open", "Total"],
          reasons.map(([reason, n]) => [reason, number(n.open), number(n.total)]),
        ),
  );
  const qualityCard = el(
    "section",
    { class: "card", "aria-labelledby": "quality-title" },
    el("h2", { id: "quality-title" }, "Latest quality run"),
    quality === null
      ? el("p", { class: "muted" }, "No quality run yet.")
      : el(
          "div",
          {},
          el(
            "p",
            {},
            "Status: ",
            el("strong", { class: `status-${quality.status}` }, quality.status),
            ` · ${quality.finishedAt ?? "running"}`,
          ),
          table(
            null,
            ["Check", "Status", "Detail"],
            quality.checks.map((c) => [c.check, el("span", { class: `status-${c.status}` }, c.status), c.detail]),
          ),
        ),
  );
  page.replaceChildren(el("h1", {}, "Overview"), cards, quarantineTable, qualityCard);
}
