/** People: find a person and inspect the profile their actor holds. */
import { api, el, number, table, when } from "../lib.js";

export const title = "People";
export const refreshMs = 10_000;

/** What a search box holds, as a profile id: an address is an e-mail, a typed prefix stays, else a user id. */
function profileIdOf(query) {
  const q = query.trim();
  if (/^(user_id|anonymous_id|email|email_sha256):/.test(q)) return q;
  return q.includes("@") ? `email:${q}` : `user_id:${q}`;
}

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
export async function render(page, arg) {
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
