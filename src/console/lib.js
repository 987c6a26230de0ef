/**
 * What every console page shares: building elements from data (always as
 * text, never markup), calling the public API with the tab's key, and the
 * few shapes the pages repeat (stat cards, tables, bars, sections).
 */

export const KEY = "edge-profiles.api-key";

export const $ = (id) => document.getElementById(id);

/** An element with attributes and children (nodes, or text); falsy children are skipped. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === "" || child == null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export class SignedOut extends Error {}

/** Set by app.js: what to do when the service refuses the tab's key. */
let onRefused = () => {};
export function whenRefused(handler) {
  onRefused = handler;
}

/** The service refused the tab's key (a 401 read outside `api`): the tab signs out with this message. */
export function refused(message) {
  onRefused(message);
}

/** The Authorization header of the tab's key; signed out when there is none. */
export function authHeaders() {
  const key = sessionStorage.getItem(KEY);
  if (!key) throw new SignedOut("not signed in");
  return { authorization: `Bearer ${key}` };
}

async function call(method, path, body, signal) {
  const headers = authHeaders();
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
    signal,
  });
  if (res.status === 401) {
    onRefused("The API key was refused; sign in again.");
    throw new SignedOut("refused");
  }
  return res;
}

/** A GET of the public API; 404 is `null` (the page says "not found"), other failures throw. */
export async function api(path, signal) {
  const res = await call("GET", path, undefined, signal);
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(await problem(res, path));
  return res.json();
}

/** A POST/PUT/DELETE of the public API: `{ ok, status, body }`, the body parsed when it is JSON. */
export async function send(method, path, body) {
  const res = await call(method, path, body);
  const text = await res.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  return { ok: res.ok, status: res.status, body: parsed };
}

/** The message of a JSON error body (`{ error: { message } }`), else the status. */
export async function problem(res, path) {
  try {
    const body = await res.json();
    if (body?.error?.message) return `${path}: ${body.error.message}`;
  } catch {}
  return `${path} answered ${res.status}`;
}

/** The message of a `send` result that failed, for a status line. */
export const failure = (result) =>
  result.body?.error?.message ?? (typeof result.body === "string" && result.body) ?? `answered ${result.status}`;

export const number = (n, digits = 0) =>
  typeof n === "number" && Number.isFinite(n)
    ? n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : "—";

export const percent = (x, digits = 1) => (typeof x === "number" ? `${(x * 100).toFixed(digits)}%` : "—");

/** An instant (ISO string or epoch ms) in the viewer's locale. */
export const when = (t) => (t == null || t === "" ? "—" : new Date(t).toLocaleString());

/** A value as a table shows it: strings as they are, anything else as JSON. */
export const shown = (v) => (v == null ? "—" : typeof v === "string" ? v : JSON.stringify(v));

/** A big number with its label, and a note under it. */
export function stat(label, value, note = "") {
  return el(
    "div",
    { class: "card" },
    el("div", { class: "label" }, label),
    el("div", { class: "stat" }, value),
    note ? el("div", { class: "muted" }, note) : "",
  );
}

/** A table of rows of cells (text, or an element); a caption when the section has no heading of its own. */
export function table(caption, headings, rows, empty = "Nothing yet.") {
  if (rows.length === 0 && empty) {
    return el("div", {}, caption ? el("h3", { class: "label" }, caption) : "", el("p", { class: "muted" }, empty));
  }
  return el(
    "div",
    { class: "table-wrap" },
    el(
      "table",
      {},
      caption ? el("caption", { class: "label" }, caption) : "",
      el("thead", {}, el("tr", {}, ...headings.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, ...rows.map((cells) => el("tr", {}, ...cells.map((c) => el("td", {}, c))))),
    ),
  );
}

/**
 * A table that may scroll sideways on a narrow screen, reachable from the
 * keyboard so it can be scrolled there too (WCAG 2.1.1): for tables with no
 * link or button of their own inside.
 */
export function scrollableTable(caption, headings, rows, empty, label = caption) {
  const node = table(caption, headings, rows, empty);
  if (node.classList.contains("table-wrap")) {
    node.tabIndex = 0;
    node.setAttribute("role", "region");
    node.setAttribute("aria-label", label);
  }
  return node;
}

let sectionIds = 0;
/** A card with a heading that labels it. */
export function section(title, ...children) {
  const id = `s-${++sectionIds}`;
  return el("section", { class: "card", "aria-labelledby": id }, el("h2", { id }, title), ...children);
}

/**
 * Horizontal bars scaled to the largest value: `[{ label, value, text? }]`.
 * Widths are set through the CSSOM, not a style attribute: the CSP allows no inline style.
 */
export function bars(label, items, format = (v) => number(v)) {
  const max = Math.max(...items.map((i) => Math.abs(i.value)), 1e-9);
  const list = el("ol", { class: "bars", "aria-label": label });
  for (const item of items) {
    const bar = el("span", { class: "bar" });
    bar.style.width = `${Math.max(1, (Math.abs(item.value) / max) * 100)}%`;
    list.append(
      el(
        "li",
        {},
        el("span", { class: "bar-label" }, item.label),
        el("span", { class: "bar-track" }, bar),
        el("span", { class: "bar-value" }, item.text ?? format(item.value)),
      ),
    );
  }
  return list;
}

/** A status word styled by its value (pass / warn / fail, running / stopped, …). */
export const badge = (status) =>
  el("span", { class: `badge status-${String(status).replace(/[^a-z_-]/gi, "")}` }, status);

/** A line that announces what an action did, for screen readers too. */
export function statusLine(id) {
  return el("p", { id, class: "muted", role: "status" });
}

/** An SVG element with attributes (sizes and positions are attributes, allowed by the CSP) and text. */
export function svg(tag, attrs = {}, text = "") {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text) node.textContent = text;
  return node;
}

/** Waits `ms`, or less when the viewer leaves the page (`signal` aborts). */
export const pause = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });

/** What each part last showed, so a refresh with the same data leaves the DOM (and focus) alone. */
const drawn = new WeakMap();
/** Refills `container` with `build(data)`, unless it already shows that data. */
export function redraw(container, data, build) {
  const key = JSON.stringify(data);
  if (drawn.get(container) === key) return;
  drawn.set(container, key);
  container.replaceChildren(...[build(data)].flat());
}
