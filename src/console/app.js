/**
 * The operator console in the browser: sign-in with an API key, and pages
 * that read the service through its public API (DESIGN §10) — the same
 * routes, with the same Bearer header, a user's script would call.
 *
 * The key lives in this tab's sessionStorage only (gone when the tab closes
 * or on sign-out), travels only in the Authorization header, never in a URL.
 * Every value from the data reaches the page through `textContent`, never as
 * markup. Served by the Worker (src/routes/console.ts) under a strict
 * Content-Security-Policy: scripts and styles from this origin only.
 */

const KEY = "edge-profiles.api-key";
const REFRESH_MS = 10_000;

const $ = (id) => document.getElementById(id);

/** An element with text content and attributes; children appended in order. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

class SignedOut extends Error {}

/** A GET of the public API with the tab's key; a refused key signs the tab out. */
async function api(path) {
  const key = sessionStorage.getItem(KEY);
  if (!key) throw new SignedOut("not signed in");
  const res = await fetch(path, { headers: { authorization: `Bearer ${key}` }, cache: "no-store" });
  if (res.status === 401) {
    signOut("The API key was refused; sign in again.");
    throw new SignedOut("refused");
  }
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(`${path} answered ${res.status}`);
  return res.json();
}

const number = (n) => (typeof n === "number" ? n.toLocaleString("en-US") : "—");

function stat(label, value, note = "") {
  return el(
    "div",
    { class: "card" },
    el("div", { class: "label" }, label),
    el("div", { class: "stat" }, value),
    note ? el("div", { class: "muted" }, note) : "",
  );
}

/** A table of rows of cells (text, or an element); a caption when the section has no heading of its own. */
function table(caption, headings, rows) {
  return el(
    "table",
    {},
    caption ? el("caption", { class: "label" }, caption) : "",
    el("thead", {}, el("tr", {}, ...headings.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, ...rows.map((cells) => el("tr", {}, ...cells.map((c) => el("td", {}, c))))),
  );
}

/** Overview: the sink, the quarantine and the latest quality run, refreshed on their own. */
async function overview(page) {
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

/** What a search box holds, as a profile id: an address is an e-mail, a typed prefix stays, else a user id. */
function profileIdOf(query) {
  const q = query.trim();
  if (/^(user_id|anonymous_id|email|email_sha256):/.test(q)) return q;
  return q.includes("@") ? `email:${q}` : `user_id:${q}`;
}

const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");

/** Affinities as bars, scaled to the strongest: the person's interests at a glance, decayed to now. */
function affinityBars(affinities) {
  const top = affinities.slice(0, 12);
  const max = Math.max(...top.map((a) => a.score), 1e-9);
  const list = el("ol", { class: "bars", "aria-label": "Affinities, strongest first" });
  for (const a of top) {
    const bar = el("span", { class: "bar" });
    // CSSOM, not a style attribute: the CSP allows no inline style.
    bar.style.width = `${Math.max(2, (a.score / max) * 100)}%`;
    list.append(
      el(
        "li",
        {},
        el("span", { class: "bar-label" }, a.dimension),
        bar,
        el("span", { class: "bar-value" }, a.score.toFixed(2)),
      ),
    );
  }
  return list;
}

/** People: search by user id, e-mail or anonymous id, and the profile the person's actor holds. */
async function people(page, arg) {
  let form = page.querySelector("#people-search");
  if (!form) {
    form = el(
      "form",
      { id: "people-search", class: "card", role: "search" },
      el("label", { for: "people-query" }, "User id, e-mail or anonymous id"),
      el("input", { id: "people-query", name: "q", type: "search", autocomplete: "off", spellcheck: "false" }),
      el("button", { type: "submit" }, "Find"),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const q = form.querySelector("input").value;
      if (q.trim()) location.hash = `#/people/${encodeURIComponent(profileIdOf(q))}`;
    });
    page.replaceChildren(el("h1", {}, "People"), form, el("div", { id: "person" }));
  }
  const person = page.querySelector("#person");
  if (!arg) {
    person.replaceChildren(el("p", { class: "muted" }, "Find someone to see their profile."));
    return;
  }
  const path = `/v1/profiles/${encodeURIComponent(arg)}`;
  const [profile, events] = await Promise.all([api(path), api(`${path}/events?limit=20`)]);
  if (profile === null) {
    person.replaceChildren(el("p", { role: "status" }, `No profile for ${arg}.`));
    return;
  }
  const traits = Object.entries(profile.traits ?? {});
  const sessions = [profile.session?.current, ...(profile.session?.recent ?? [])].filter(Boolean);
  person.replaceChildren(
    el(
      "section",
      { class: "card", "aria-labelledby": "person-title" },
      el("h2", { id: "person-title" }, profile.id),
      el(
        "p",
        {},
        `User id ${profile.userId ?? "—"} · ${number(profile.counts?.events)} events · ${number(profile.counts?.sessions)} sessions · first seen ${when(profile.firstSeen)} · last seen ${when(profile.lastSeen)}`,
      ),
      el("p", { class: "muted" }, `Anonymous ids: ${(profile.anonymousIds ?? []).join(", ") || "—"}`),
    ),
    el(
      "section",
      { class: "card", "aria-labelledby": "aff-title" },
      el("h2", { id: "aff-title" }, "Affinities"),
      profile.affinities?.length ? affinityBars(profile.affinities) : el("p", { class: "muted" }, "None yet."),
    ),
    el(
      "section",
      { class: "card" },
      table(
        "Traits",
        ["Trait", "Value"],
        traits.map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]),
      ),
    ),
    el(
      "section",
      { class: "card" },
      table(
        "Audiences and computed traits",
        ["Name", "Value"],
        [
          ...(profile.audiences ?? []).map((a) => [a, "member"]),
          ...Object.entries(profile.computedTraits ?? {}).map(([k, v]) => [k, JSON.stringify(v)]),
        ],
      ),
    ),
    el(
      "section",
      { class: "card" },
      table(
        "Sessions",
        ["Started", "Ended", "Events", "Pages", "Revenue"],
        sessions.map((s) => [when(s.startedAt), when(s.endedAt), number(s.events), number(s.pages), number(s.revenue)]),
      ),
    ),
    el(
      "section",
      { class: "card" },
      table(
        "Recent events",
        ["When", "Type", "Name"],
        (events?.events ?? []).map((e) => [when(e.timestamp), e.type, e.name ?? ""]),
      ),
    ),
  );
}

const PAGES = { overview, people };
let timer = null;

async function show() {
  clearTimeout(timer);
  const [name = "overview", ...rest] = location.hash.replace(/^#\//, "").split("/");
  const arg = rest.length > 0 ? decodeURIComponent(rest.join("/")) : "";
  const render = PAGES[name] ?? overview;
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.getAttribute("href") === `#/${name}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const page = $("page");
  // Each page builds its own layout; moving to another starts from an empty one.
  if (page.dataset.page !== name) {
    page.replaceChildren();
    page.dataset.page = name;
  }
  try {
    await render(page, arg);
  } catch (err) {
    if (err instanceof SignedOut) return;
    page.replaceChildren(el("p", { class: "error", role: "alert" }, `Could not load this page: ${err.message}`));
  }
  timer = setTimeout(show, REFRESH_MS);
}

function signedIn(yes) {
  $("sign-in").hidden = yes;
  $("page").hidden = !yes;
  $("nav").hidden = !yes;
  $("sign-out").hidden = !yes;
}

function signOut(message = "") {
  clearTimeout(timer);
  sessionStorage.removeItem(KEY);
  $("page").replaceChildren();
  delete $("page").dataset.page;
  signedIn(false);
  $("sign-in-error").textContent = message;
  $("api-key").focus();
}

async function signIn(event) {
  event.preventDefault();
  const input = $("api-key");
  const key = input.value.trim();
  input.value = "";
  const res = await fetch("/v1/sink/status", { headers: { authorization: `Bearer ${key}` }, cache: "no-store" });
  if (!res.ok) {
    $("sign-in-error").textContent =
      res.status === 401 ? "That API key is not valid." : `The service answered ${res.status}.`;
    return;
  }
  sessionStorage.setItem(KEY, key);
  $("sign-in-error").textContent = "";
  signedIn(true);
  await show();
}

$("sign-in").addEventListener("submit", signIn);
$("sign-out").addEventListener("click", () => signOut());
window.addEventListener("hashchange", () => show());
if (sessionStorage.getItem(KEY)) {
  signedIn(true);
  show();
} else signedIn(false);
