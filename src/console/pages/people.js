/**
 * People: find a person (GET /v1/profiles?q=) and inspect the profile their
 * actor holds — identities, traits, affinities with their decay, sessions on
 * a timeline, audiences and computed traits, experiment assignments, recent
 * events, and the merge block as an ESP renders it. The view is live: the
 * person's actor pushes the profile after every change over a stream
 * (GET /v1/profiles/:id/stream, read with fetch so the key stays a header).
 */
import {
  api,
  authHeaders,
  bars,
  el,
  number,
  pause,
  refused,
  scrollableTable,
  section,
  shown,
  statusLine,
  table,
  when,
} from "../lib.js";
import { mergePreview } from "./merge-preview.js";
import { sessionTimeline } from "./session-timeline.js";

export const title = "People";

const RECONNECT_MS = 2_000;
const MAX_RECONNECT_MS = 30_000;

function searchForm() {
  const form = el(
    "form",
    { id: "people-search", class: "card", role: "search" },
    el("label", { for: "people-query" }, "User id, e-mail or anonymous id"),
    el("input", { id: "people-query", name: "q", type: "search", autocomplete: "off", spellcheck: "false" }),
    el("button", { type: "submit" }, "Find"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const q = form.querySelector("input").value.trim();
    if (q) location.hash = `#/people/${encodeURIComponent(`?${q}`)}`;
  });
  return form;
}

/** Search results: the exact match opens at once; prefixes are listed to pick from. */
async function showMatches(person, q, signal) {
  const found = await api(`/v1/profiles?q=${encodeURIComponent(q)}`, signal);
  const items = found?.items ?? [];
  const exact = items.find((i) => i.match === "exact");
  if (exact && items.length === 1) {
    location.replace(`#/people/${encodeURIComponent(exact.id)}`);
    return;
  }
  if (items.length === 0) {
    person.replaceChildren(el("p", { role: "status" }, `No one matches “${q}”.`));
    return;
  }
  person.replaceChildren(
    section(
      `People matching “${q}”`,
      table(
        null,
        ["Profile", "E-mail", "Name", "Last seen"],
        items.map((i) => [
          el("a", { href: `#/people/${encodeURIComponent(i.id)}` }, i.id),
          i.email ?? "—",
          i.name ?? "—",
          when(i.lastSeen),
        ]),
      ),
    ),
  );
}

/** Reads a stream of server-sent events, calling `onFrame(event, data)` for each; resolves when it ends. */
async function readEvents(res, onFrame) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffered += decoder.decode(value, { stream: true });
    for (let end = buffered.indexOf("\n\n"); end >= 0; end = buffered.indexOf("\n\n")) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      let event = "message";
      let data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (data) onFrame(event, JSON.parse(data));
    }
  }
}

/** The last word of a stream, as the viewer reads it (null: none, reconnect). */
function endingOf(event, data) {
  if (event === "moved")
    return el("span", {}, "Merged into ", el("a", { href: `#/people/${encodeURIComponent(data.to)}` }, data.to), ".");
  if (event === "erased") return "This person was erased.";
  if (event === "replaced") return "Live view closed: this person is watched from too many tabs. Reload to watch here.";
  return null;
}

/**
 * Watches one person until the viewer leaves (`signal`): each frame redraws
 * the inspector. A stream that ends (it does after a few minutes) or fails
 * is opened again — after a growing pause when the service is struggling,
 * and not while the tab is hidden, so a forgotten tab holds nothing open.
 */
async function watch(person, id, signal) {
  const live = el("span", { class: "live", role: "status" }, "Connecting…");
  let first = true;
  let retry = RECONNECT_MS;
  while (!signal.aborted) {
    await visible(signal);
    if (signal.aborted) return;
    let res;
    try {
      res = await fetch(`/v1/profiles/${encodeURIComponent(id)}/stream`, {
        headers: authHeaders(),
        cache: "no-store",
        signal,
      });
    } catch (err) {
      if (signal.aborted) return;
      live.textContent = `Disconnected (${err.message}); retrying…`;
      await pause(retry, signal);
      retry = Math.min(retry * 2, MAX_RECONNECT_MS);
      continue;
    }
    if (res.status === 401) {
      refused("The API key was refused; sign in again.");
      return;
    }
    if (res.status === 404) {
      person.replaceChildren(el("p", { role: "status" }, `No profile for ${id}.`));
      return;
    }
    if (!res.ok) {
      await res.body?.cancel();
      live.textContent = `The service answered ${res.status}; retrying…`;
      await pause(Math.max(retry, Number(res.headers.get("retry-after") ?? 0) * 1000), signal);
      retry = Math.min(retry * 2, MAX_RECONNECT_MS);
      continue;
    }
    let ended = null;
    try {
      await readEvents(res, (event, data) => {
        if (event === "profile") {
          inspector(person, data.profile, data.events, live, first);
          first = false;
          retry = RECONNECT_MS;
          live.textContent = `Live · updated ${new Date().toLocaleTimeString()}`;
        } else ended = endingOf(event, data);
      });
    } catch (err) {
      if (signal.aborted) return;
      live.textContent = `Disconnected (${err.message}); retrying…`;
    }
    if (ended) {
      person.prepend(el("p", { class: "error", role: "alert" }, ended));
      live.textContent = "Not live";
      return;
    }
    await pause(retry, signal);
  }
}

/** Resolves once the tab is visible (at once when it is). */
const visible = (signal) =>
  new Promise((resolve) => {
    if (!document.hidden) return resolve();
    const go = () => {
      if (document.hidden && !signal.aborted) return;
      document.removeEventListener("visibilitychange", go);
      resolve();
    };
    document.addEventListener("visibilitychange", go);
    signal.addEventListener("abort", go);
  });

/** Affinities as bars, with what each falls to in a week without a new signal. */
function affinitySection(profile) {
  const halfLife = profile.affinityHalfLifeDays;
  const week = (s) => s * 2 ** (-7 / halfLife);
  const items = (profile.affinities ?? []).slice(0, 12).map((a) => ({
    label: a.dimension,
    value: a.score,
    text: `${a.score.toFixed(2)} → ${week(a.score).toFixed(2)}`,
  }));
  return section(
    "Affinities",
    el(
      "p",
      { class: "muted" },
      `Decayed to now; each halves every ${number(halfLife, 0)} days without a new signal (→ its score in 7 days).`,
    ),
    items.length ? bars("Affinities, strongest first", items) : el("p", { class: "muted" }, "None yet."),
  );
}

/** The inspector's sections, made once per person; each frame refills them (the preview's frame is never moved). */
function skeleton(person, profile, live) {
  const slot = (id) => el("div", { id });
  const preview = mergePreview(profile.id);
  person.replaceChildren(
    el(
      "section",
      { class: "card", "aria-labelledby": "person-title" },
      el("h2", { id: "person-title" }, profile.id),
      live,
      slot("person-summary"),
    ),
    slot("person-affinities"),
    slot("person-sessions"),
    slot("person-traits"),
    slot("person-audiences"),
    slot("person-experiments"),
    preview,
    slot("person-events"),
  );
  return preview;
}

/** Draws the profile into the inspector's sections. */
function inspector(person, profile, events, live, first) {
  const preview = first ? skeleton(person, profile, live) : person.querySelector("#merge-preview");
  const fill = (id, ...children) => person.querySelector(`#${id}`).replaceChildren(...children);
  const traits = Object.entries(profile.traits ?? {});
  const sessions = [profile.session?.current, ...(profile.session?.recent ?? [])].filter(Boolean);
  fill(
    "person-summary",
    el(
      "p",
      {},
      `${number(profile.counts?.events)} events · ${number(profile.counts?.sessions)} sessions · first seen ${when(profile.firstSeen)} · last seen ${when(profile.lastSeen)}`,
    ),
    scrollableTable(
      "Identities",
      ["Kind", "Id"],
      [
        ["User id", profile.userId ?? "—"],
        ...(typeof profile.traits?.email === "string" ? [["E-mail", profile.traits.email]] : []),
        ...(profile.anonymousIds ?? []).map((a) => ["Anonymous id", a]),
      ],
    ),
  );
  fill("person-affinities", affinitySection(profile));
  fill(
    "person-sessions",
    section(
      "Sessions",
      sessionTimeline(sessions),
      scrollableTable(
        null,
        ["#", "Started", "Ended", "Events", "Pages", "Revenue", "Landing page"],
        sessions.map((s) => [
          `#${s.number}`,
          when(s.startedAt),
          when(s.endedAt),
          number(s.events),
          number(s.pages),
          number(s.revenue, 2),
          s.landingPage ?? "—",
        ]),
        "No sessions yet.",
        "Sessions",
      ),
    ),
  );
  fill(
    "person-traits",
    section(
      "Traits",
      scrollableTable(
        null,
        ["Trait", "Value"],
        traits.map(([k, v]) => [k, shown(v)]),
        "No traits.",
        "Traits",
      ),
    ),
  );
  fill(
    "person-audiences",
    section(
      "Audiences and computed traits",
      table(
        null,
        ["Name", "Value"],
        [
          ...(profile.audiences ?? []).map((a) => [
            el("a", { href: `#/audiences/${encodeURIComponent(a)}` }, a),
            "member",
          ]),
          ...Object.entries(profile.computedTraits ?? {}).map(([k, v]) => [k, shown(v)]),
        ],
        "In no audience; no computed traits.",
      ),
    ),
  );
  fill(
    "person-experiments",
    section(
      "Experiments",
      table(
        null,
        ["Experiment", "Variant", "Exposed", "Opened", "Clicked", "Converted"],
        (profile.experiments ?? []).map((x) => [
          el("a", { href: `#/experiments/${encodeURIComponent(x.id)}` }, x.id),
          x.variant,
          when(x.exposedAt),
          when(x.openedAt),
          when(x.clickedAt),
          when(x.convertedAt),
        ]),
        "Not in any experiment.",
      ),
    ),
  );
  fill(
    "person-events",
    section(
      "Recent events",
      scrollableTable(
        null,
        ["When", "Type", "Name", "Properties"],
        (events ?? []).map((e) => [when(e.timestamp), e.type, e.name ?? "", shown(e.properties)]),
        "No events.",
        "Recent events",
      ),
    ),
  );
  preview.refresh();
}

export async function render(page, arg, signal) {
  if (!page.querySelector("#people-search")) {
    page.replaceChildren(el("h1", {}, title), searchForm(), statusLine("people-status"), el("div", { id: "person" }));
  }
  const person = page.querySelector("#person");
  if (!arg) {
    person.replaceChildren(el("p", { class: "muted" }, "Find someone to see their profile, live."));
    return;
  }
  // `?text` is a search; anything else is a profile id to open.
  if (arg.startsWith("?")) {
    page.querySelector("#people-query").value = arg.slice(1);
    await showMatches(person, arg.slice(1), signal);
    return;
  }
  const found = await api(`/v1/profiles?q=${encodeURIComponent(arg)}&match=exact`, signal);
  const exact = found?.items?.find((i) => i.match === "exact");
  if (!exact) {
    person.replaceChildren(el("p", { role: "status" }, `No profile for ${arg}.`));
    return;
  }
  // An address or a merged visitor's id opens the person under their own id.
  if (exact.id !== arg) {
    location.replace(`#/people/${encodeURIComponent(exact.id)}`);
    return;
  }
  person.replaceChildren(el("p", { class: "muted", role: "status" }, `Opening ${arg}…`));
  // Runs until the viewer leaves; the router does not wait for it.
  watch(person, arg, signal).catch((err) => {
    if (!signal.aborted) person.replaceChildren(el("p", { class: "error", role: "alert" }, err.message));
  });
}
