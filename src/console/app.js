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
      : el(
          "table",
          {},
          el(
            "thead",
            {},
            el(
              "tr",
              {},
              el("th", { scope: "col" }, "Reason"),
              el("th", { scope: "col" }, "Open"),
              el("th", { scope: "col" }, "Total"),
            ),
          ),
          el(
            "tbody",
            {},
            ...reasons.map(([reason, n]) =>
              el("tr", {}, el("td", {}, reason), el("td", {}, number(n.open)), el("td", {}, number(n.total))),
            ),
          ),
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
          el(
            "table",
            {},
            el(
              "thead",
              {},
              el(
                "tr",
                {},
                el("th", { scope: "col" }, "Check"),
                el("th", { scope: "col" }, "Status"),
                el("th", { scope: "col" }, "Detail"),
              ),
            ),
            el(
              "tbody",
              {},
              ...quality.checks.map((c) =>
                el(
                  "tr",
                  {},
                  el("td", {}, c.check),
                  el("td", { class: `status-${c.status}` }, c.status),
                  el("td", {}, c.detail),
                ),
              ),
            ),
          ),
        ),
  );
  page.replaceChildren(el("h1", {}, "Overview"), cards, quarantineTable, qualityCard);
}

const PAGES = { overview };
let timer = null;

async function show() {
  clearTimeout(timer);
  const name = (location.hash.replace(/^#\//, "") || "overview").split("/")[0];
  const render = PAGES[name] ?? overview;
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.getAttribute("href") === `#/${name}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const page = $("page");
  try {
    await render(page);
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
