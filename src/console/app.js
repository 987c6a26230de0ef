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
 *
 * Each page is a module with `title`, `render(page, arg, signal)` and, when
 * it refreshes on its own, `refreshMs`. `signal` aborts when the viewer
 * leaves the page, so a live stream or a slow read stops with it.
 */
import { $, el, KEY, SignedOut, whenRefused } from "./lib.js";
import * as audiences from "./pages/audiences.js";
import * as catalog from "./pages/catalog.js";
import * as experiments from "./pages/experiments.js";
import * as overview from "./pages/overview.js";
import * as people from "./pages/people.js";
import * as privacy from "./pages/privacy.js";
import * as quality from "./pages/quality.js";
import * as quarantine from "./pages/quarantine.js";

const PAGES = { overview, people, experiments, audiences, quality, quarantine, catalog, privacy };

let timer = null;
let leaving = null;

async function show() {
  clearTimeout(timer);
  const [name = "overview", ...rest] = location.hash.replace(/^#\//, "").split("/");
  const key = name in PAGES ? name : "overview";
  const module = PAGES[key];
  const arg = rest.length > 0 ? decodeURIComponent(rest.join("/")) : "";
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.getAttribute("href") === `#/${key}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const page = $("page");
  const route = `${key}/${arg}`;
  // Each page builds its own layout; moving to another (or to another person) starts afresh.
  if (page.dataset.route !== route) {
    leaving?.abort();
    leaving = new AbortController();
    if (page.dataset.page !== key) page.replaceChildren();
    page.dataset.page = key;
    page.dataset.route = route;
    document.title = `${module.title} · edge-profiles console`;
  }
  const signal = leaving.signal;
  try {
    await module.render(page, arg, signal);
  } catch (err) {
    if (err instanceof SignedOut || signal.aborted) return;
    page.replaceChildren(el("p", { class: "error", role: "alert" }, `Could not load this page: ${err.message}`));
    delete page.dataset.page;
    delete page.dataset.route;
  }
  if (module.refreshMs && !signal.aborted) timer = setTimeout(show, module.refreshMs);
}

function signedIn(yes) {
  $("sign-in").hidden = yes;
  $("page").hidden = !yes;
  $("nav").hidden = !yes;
  $("sign-out").hidden = !yes;
}

function signOut(message = "") {
  clearTimeout(timer);
  leaving?.abort();
  sessionStorage.removeItem(KEY);
  $("page").replaceChildren();
  delete $("page").dataset.page;
  delete $("page").dataset.route;
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

whenRefused(signOut);
$("sign-in").addEventListener("submit", signIn);
$("sign-out").addEventListener("click", () => signOut());
window.addEventListener("hashchange", () => show());
if (sessionStorage.getItem(KEY)) {
  signedIn(true);
  show();
} else signedIn(false);
