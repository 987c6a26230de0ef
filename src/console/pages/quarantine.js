/**
 * Quarantine: the messages ingestion refused, counted by reason and listed
 * newest first (filtered by reason and status, a page at a time); one opens
 * in an editor as JSON, and is replayed — as stored, or corrected — through
 * the same validation and ingestion as live traffic.
 */
import { api, badge, el, failure, number, scrollableTable, section, send, statusLine, table, when } from "../lib.js";

export const title = "Quarantine";

const PAGE_SIZE = 25;

/** A stored payload as the editor shows it: pretty JSON, or the raw text a message that never parsed kept. */
const editable = (payload) => (typeof payload === "string" ? payload : JSON.stringify(payload, null, 2));

/** What a replay came to, in a sentence. */
function outcomeText(outcome) {
  switch (outcome?.status) {
    case "replayed":
      return `Replayed: accepted as messageId ${outcome.messageId}.`;
    case "rejected":
      return `Rejected again: ${outcome.reason}`;
    case "already_replayed":
      return `Already replayed (${outcome.reason}).`;
    case "not_found":
      return `Not found: ${outcome.reason}`;
    default:
      return "The service gave no outcome for this message.";
  }
}

/** Quarantine: counts by reason, a filtered list, and an editor that replays one message. */
export async function render(page, _arg, signal) {
  const reason = el("select", { id: "quarantine-reason" }, el("option", { value: "" }, "Any reason"));
  const status = el(
    "select",
    { id: "quarantine-status" },
    el("option", { value: "open" }, "Open"),
    el("option", { value: "replayed" }, "Replayed"),
    el("option", { value: "all" }, "All"),
  );
  const filters = el(
    "form",
    { id: "quarantine-filters", class: "filters" },
    el("label", { for: "quarantine-reason" }, "Reason"),
    reason,
    el("label", { for: "quarantine-status" }, "Status"),
    status,
    el("button", { type: "submit" }, "Show"),
  );
  const counts = el("div", {});
  const list = el("div", { id: "quarantine-list" });
  const pager = el("div", { class: "actions" });
  const listStatus = statusLine("quarantine-list-status");
  const editor = el("div", { id: "quarantine-editor" });
  page.replaceChildren(
    el("h1", {}, title),
    section("By reason", counts),
    section("Messages", filters, listStatus, list, pager),
    editor,
  );

  /** `before` of each page shown so far: the way back to newer pages. */
  let pages = [null];

  function fail(line) {
    return (err) => {
      if (!signal.aborted) line.textContent = `Something went wrong: ${err.message}`;
    };
  }

  function showCounts(c) {
    const reasons = Object.entries(c?.byReason ?? {}).sort((x, y) => y[1].open - x[1].open || y[1].total - x[1].total);
    const unauthenticated = Object.entries(c?.unauthenticated ?? {});
    counts.replaceChildren(
      scrollableTable(
        null,
        ["Reason", "Open", "Total"],
        reasons.map(([code, n]) => [code, number(n.open), number(n.total)]),
        "Nothing quarantined.",
        "Quarantined messages by reason",
      ),
      el(
        "p",
        { class: "muted" },
        `${number(c?.open)} open of ${number(c?.total)} kept · ${number(c?.evicted)} evicted over the per-reason cap · ${number(c?.expired)} expired`,
        unauthenticated.length
          ? ` · requests without a valid key: ${unauthenticated.map(([k, v]) => `${k} ${number(v)}`).join(", ")}`
          : "",
      ),
    );
    // The reasons seen so far, keeping the one chosen.
    const chosen = reason.value;
    reason.replaceChildren(
      el("option", { value: "" }, "Any reason"),
      ...reasons.map(([code]) => el("option", { value: code }, code)),
    );
    if (chosen && !reasons.some(([code]) => code === chosen)) reason.append(el("option", { value: chosen }, chosen));
    reason.value = chosen;
  }

  async function load() {
    const before = pages.at(-1);
    const query = new URLSearchParams({ limit: String(PAGE_SIZE), status: status.value });
    if (reason.value) query.set("reason", reason.value);
    if (before !== null) query.set("before", String(before));
    const found = await api(`/v1/quarantine?${query}`, signal);
    showCounts(found?.counts);
    const items = found?.items ?? [];
    list.replaceChildren(
      table(
        null,
        ["Id", "Received", "Reason", "What was wrong", "Source", "Status", "Action"],
        items.map((item) => {
          const edit = el(
            "button",
            { type: "button", class: "secondary", "aria-label": `Open message ${item.id}` },
            "Open",
          );
          edit.addEventListener("click", () => openEditor(item));
          return [
            String(item.id),
            when(item.receivedAt),
            item.reason,
            item.message,
            item.source,
            badge(item.replayedAt ? "replayed" : "open"),
            edit,
          ];
        }),
        "No message matches.",
      ),
    );
    const newer = el("button", { type: "button", class: "secondary" }, "Newer");
    newer.disabled = pages.length === 1;
    newer.addEventListener("click", () => {
      pages.pop();
      load().catch(fail(listStatus));
    });
    const older = el("button", { type: "button", class: "secondary" }, "Older");
    older.disabled = found?.next == null;
    older.addEventListener("click", () => {
      pages.push(found.next);
      load().catch(fail(listStatus));
    });
    pager.replaceChildren(newer, older, el("span", { class: "muted" }, `Page ${pages.length}`));
    return items;
  }

  function openEditor(item) {
    const original = editable(item.payload);
    const text = el("textarea", { id: "quarantine-payload", spellcheck: "false", rows: "14" });
    text.value = original;
    const replay = el("button", { type: "button", id: "quarantine-replay" }, "Replay");
    const close = el("button", { type: "button", class: "secondary" }, "Close");
    const outcome = statusLine("replay-status");
    const done = item.replayedAt !== null;
    replay.disabled = done;
    editor.replaceChildren(
      section(
        `Message ${item.id}`,
        el("p", {}, badge(item.reason), ` ${item.message}`),
        el(
          "p",
          { class: "muted" },
          `Received ${when(item.receivedAt)} from ${item.source}${item.index == null ? "" : `, message ${item.index} of its batch`}`,
          done ? ` · replayed ${when(item.replayedAt)} as ${item.replayedMessageId}` : "",
        ),
        el("label", { for: "quarantine-payload" }, "Payload (JSON): correct it, then replay"),
        text,
        el("div", { class: "actions" }, replay, close),
        outcome,
      ),
    );
    close.addEventListener("click", () => {
      editor.replaceChildren();
      list.querySelector("button")?.focus();
    });
    replay.addEventListener("click", async () => {
      let payload;
      if (text.value.trim() !== original.trim()) {
        try {
          payload = JSON.parse(text.value);
        } catch (err) {
          outcome.textContent = `The payload is not valid JSON (${err.message}); nothing was sent.`;
          text.focus();
          return;
        }
        if (payload === null || typeof payload !== "object" || Array.isArray(payload)) {
          outcome.textContent = "The payload must be one JSON object (a Segment message); nothing was sent.";
          text.focus();
          return;
        }
      }
      replay.disabled = true;
      outcome.textContent = "Replaying…";
      try {
        const result = await send("POST", "/v1/quarantine/replay", {
          items: [payload === undefined ? { id: item.id } : { id: item.id, payload }],
        });
        const answer = result.ok ? result.body.results?.[0] : null;
        outcome.textContent = result.ok ? outcomeText(answer) : `The replay failed: ${failure(result)}`;
        replay.disabled = answer?.status === "replayed" || answer?.status === "already_replayed";
        await load();
      } catch (err) {
        fail(outcome)(err);
        replay.disabled = false;
      }
    });
    text.focus();
  }

  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    pages = [null];
    load().catch(fail(listStatus));
  });
  for (const select of [reason, status]) {
    select.addEventListener("change", () => {
      pages = [null];
      load().catch(fail(listStatus));
    });
  }

  await load();
}
