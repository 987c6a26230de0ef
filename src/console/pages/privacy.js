/**
 * Privacy: file a regulation (erase, suppress or unsuppress people, in the
 * shape of Segment's Public API) after a confirmation step, watch one at
 * `#/privacy/<id>` until every subject is done, and the recent ones.
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

export const title = "Privacy";

/** How often a regulation under way is read again. */
const POLL_MS = 1000;

const TYPES = {
  SUPPRESS_WITH_DELETE: "Erase and suppress: delete everything held and drop their future events",
  DELETE_ONLY: "Erase: delete everything held",
  SUPPRESS_ONLY: "Suppress: drop their future events, keep what is held",
  UNSUPPRESS: "Unsuppress: accept their events again",
};
const SUBJECTS = {
  USER_ID: "User ids",
  ANONYMOUS_ID: "Anonymous ids",
  EMAIL: "E-mail addresses",
  EMAIL_SHA256: "SHA-256 of e-mail addresses",
};
const IRREVERSIBLE = new Set(["SUPPRESS_WITH_DELETE", "DELETE_ONLY"]);
const done = (status) => status === "FINISHED" || status === "FAILED";
const statusBadge = (status) => badge(String(status).toLowerCase());

const countsText = (c) =>
  Object.entries(c ?? {})
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${number(n)} ${s.toLowerCase()}`)
    .join(", ") || "no subjects";

/** A subject's outcome: what an erasure removed, or why it failed. */
function detailText(subject) {
  const d = subject.detail;
  if (d == null) return "—";
  if (typeof d !== "object") return String(d);
  const parts = [
    [d.profiles, "profile", "profiles"],
    [d.warehouseRows, "warehouse row", "warehouse rows"],
    [d.lakeLinesRemoved, "lake line", "lake lines"],
    [d.lakeObjectsRewritten, "lake object rewritten", "lake objects rewritten"],
    [d.kafkaTombstones, "Kafka tombstone", "Kafka tombstones"],
    [d.actorsWiped, "actor wiped", "actors wiped"],
  ].filter(([n]) => typeof n === "number");
  return parts.length
    ? parts.map(([n, one, many]) => `${number(n)} ${n === 1 ? one : many}`).join(" · ")
    : JSON.stringify(d);
}

function regulationPart(r) {
  return [
    el(
      "p",
      {},
      statusBadge(r.overallStatus),
      ` ${TYPES[r.regulationType] ?? r.regulationType} · ${SUBJECTS[r.subjectType] ?? r.subjectType}`,
    ),
    el(
      "p",
      { class: "muted" },
      `Filed ${when(r.createdAt)} · ${r.finishedAt ? `finished ${when(r.finishedAt)}` : "not finished"} · ${countsText(r.counts)}`,
    ),
    scrollableTable(
      "Subjects (each kept only as a one-way hash)",
      ["#", "Subject hash", "Status", "Outcome"],
      r.subjects.map((s) => [
        String(s.position + 1),
        el("code", { title: s.subjectHash }, `${s.subjectHash.slice(0, 12)}…`),
        statusBadge(s.status),
        detailText(s),
      ]),
    ),
  ];
}

function buildForm(onFiled) {
  const type = el(
    "select",
    { id: "regulation-type" },
    ...Object.entries(TYPES).map(([value, text]) => el("option", { value }, text)),
  );
  const subjectType = el(
    "select",
    { id: "regulation-subject-type" },
    ...Object.entries(SUBJECTS).map(([value, text]) => el("option", { value }, text)),
  );
  const ids = el("textarea", { id: "regulation-subjects", rows: "4", spellcheck: "false", required: true });
  const review = el("button", { type: "submit" }, "Review…");
  const status = statusLine("regulation-status");
  const confirm = el("div", { id: "regulation-confirm" });
  const form = el(
    "form",
    { id: "regulation-form", class: "stack" },
    el("label", { for: "regulation-type" }, "What to do"),
    type,
    el("label", { for: "regulation-subject-type" }, "Subjects are"),
    subjectType,
    el("label", { for: "regulation-subjects" }, "Subject ids, one a line"),
    ids,
    el("div", { class: "actions" }, review),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const subjectIds = ids.value
      .split("\n")
      .map((s) => s.trim())
      .filter(Boolean);
    if (subjectIds.length === 0) {
      status.textContent = "Name at least one subject.";
      ids.focus();
      return;
    }
    const request = { regulationType: type.value, subjectType: subjectType.value, subjectIds };
    const irreversible = IRREVERSIBLE.has(request.regulationType);
    const go = el("button", { type: "button", id: "regulation-file" }, "File the regulation");
    const back = el("button", { type: "button", class: "secondary" }, "Back");
    const n = subjectIds.length;
    confirm.replaceChildren(
      el(
        "div",
        { class: "confirm", role: "group", "aria-labelledby": "regulation-confirm-title" },
        el(
          "h3",
          { id: "regulation-confirm-title" },
          `${TYPES[request.regulationType]} — ${number(n)} subject${n === 1 ? "" : "s"}?`,
        ),
        el(
          "ul",
          {},
          ...subjectIds.slice(0, 10).map((id) => el("li", {}, id)),
          n > 10 ? el("li", {}, `and ${number(n - 10)} more`) : "",
        ),
        irreversible
          ? el(
              "p",
              { class: "error" },
              "Erasure cannot be undone: everything held about these people is deleted from the profiles, the warehouse and the lake.",
            )
          : "",
        el("div", { class: "actions" }, go, back),
      ),
    );
    back.addEventListener("click", () => {
      confirm.replaceChildren();
      review.focus();
    });
    go.addEventListener("click", async () => {
      go.disabled = true;
      status.textContent = "Filing…";
      try {
        const result = await send("POST", "/v1/regulations", request);
        if (!result.ok) {
          const problems = result.body?.error?.details?.subjects ?? [];
          status.textContent = `Not filed: ${failure(result)}${problems.length ? ` — ${problems.map((p) => `line ${p.index + 1}: ${p.reason}`).join("; ")}` : ""}`;
          go.disabled = false;
          return;
        }
        confirm.replaceChildren();
        ids.value = "";
        status.textContent = `Filed as ${result.body.data.regulateId}.`;
        onFiled(result.body.data.regulateId);
      } catch (err) {
        status.textContent = `Something went wrong: ${err.message}`;
        go.disabled = false;
      }
    });
    go.focus();
  });
  return el("div", {}, form, confirm, status);
}

/** Privacy: a form to file a regulation, the one the hash names followed to its end, and the recent ones. */
export async function render(page, arg, signal) {
  if (!page.querySelector("#regulation-form")) {
    page.replaceChildren(
      el("h1", {}, title),
      section(
        "File a regulation",
        buildForm((id) => {
          location.hash = `#/privacy/${encodeURIComponent(id)}`;
        }),
      ),
      el("div", { id: "regulation" }),
      section("Recent regulations", el("div", { id: "regulations" })),
    );
  }
  const watched = page.querySelector("#regulation");
  const recent = page.querySelector("#regulations");

  const showRecent = async () => {
    const list = await api("/v1/regulations?limit=20", signal);
    recent.replaceChildren(
      table(
        null,
        ["Filed", "Regulation", "Type", "Subjects", "Status"],
        (list?.data?.regulations ?? []).map((r) => [
          when(r.createdAt),
          el("a", { href: `#/privacy/${encodeURIComponent(r.id)}` }, r.id),
          r.regulationType,
          countsText(r.counts),
          statusBadge(r.overallStatus),
        ]),
        "No regulation filed yet.",
      ),
    );
  };

  if (!arg) {
    watched.replaceChildren();
    await showRecent();
    return;
  }
  const path = `/v1/regulations/${encodeURIComponent(arg)}`;
  const show = (found) => {
    if (!found) {
      watched.replaceChildren(el("p", { class: "card", role: "status" }, `No regulation ${arg}.`));
      return;
    }
    watched.replaceChildren(
      section(`Regulation ${found.data.regulation.id}`, ...regulationPart(found.data.regulation)),
    );
  };
  let found = await api(path, signal);
  show(found);
  await showRecent();
  // Followed only while it is under way: a finished regulation does not change.
  while (found && !done(found.data.regulation.overallStatus) && !signal.aborted) {
    await pause(POLL_MS, signal);
    if (signal.aborted) return;
    found = await api(path, signal);
    show(found);
    if (found && done(found.data.regulation.overallStatus)) await showRecent();
  }
}
