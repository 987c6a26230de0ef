/**
 * The merge block as an ESP renders it: `GET /v1/merge/:id` (the call an ESP
 * makes at send time), its `recommendation_block` HTML drawn in a frame
 * (/console/preview.html) whose own policy allows the e-mail's inline
 * styles and no script at all. The console's page keeps its strict policy.
 *
 * A preview must not count as the person reading: the open pixel is taken
 * out and the links lose their targets (no click, middle-click or "open in
 * new tab" can follow one). Remote images load only when asked, as
 * in a mail client (and a missing image host would otherwise log errors).
 * The preview names no campaign or experiment, so it records no exposure.
 */
import { api, el, section } from "../lib.js";

/** Fetches at most this often while the profile changes. */
const EVERY_MS = 5_000;

export function mergePreview(id) {
  const frame = el("iframe", {
    src: "/console/preview.html",
    title: "Recommendation block preview",
    class: "merge-frame",
    sandbox: "allow-same-origin",
  });
  const images = el("input", { id: "preview-images", type: "checkbox" });
  const note = el("p", { class: "muted", id: "merge-note" });
  const card = section(
    "Merge block, as the ESP renders it",
    el("p", { class: "actions" }, images, el("label", { for: "preview-images" }, "Load product images")),
    frame,
    note,
  );
  card.id = "merge-preview";
  let last = 0;
  let block = null;
  let pending = null;
  const loaded = new Promise((resolve) => frame.addEventListener("load", resolve, { once: true }));

  async function draw() {
    await loaded;
    const doc = frame.contentDocument;
    if (!doc || !block) return;
    // Parsed into a template of the preview's own document (inert: nothing loads, its policy applies), cleaned, shown.
    const template = doc.createElement("template");
    template.innerHTML = block.html;
    for (const img of template.content.querySelectorAll("img")) {
      if (block.pixel && img.getAttribute("src") === block.pixel) img.remove();
      else if (!images.checked) img.removeAttribute("src");
    }
    // The links are the person's own sealed click links: shown as links, but they go nowhere from here.
    for (const a of template.content.querySelectorAll("a")) {
      a.removeAttribute("href");
      a.removeAttribute("target");
    }
    doc.body.replaceChildren(template.content);
    frame.style.height = `${Math.min(900, doc.documentElement.scrollHeight + 8)}px`;
  }

  async function fetchBlock() {
    const merge = await api(`/v1/merge/${encodeURIComponent(id)}`);
    if (!merge) return;
    block = { html: merge.recommendation_block, pixel: merge.open_pixel_url };
    note.textContent = `Strategy: ${merge.strategy} · ${merge.recommendations.length} products · rendered ${new Date(merge.generatedAt).toLocaleTimeString()}`;
    await draw();
  }

  loaded.then(() => {
    // A second guard: no click in the preview goes anywhere (it would count as the person's).
    for (const type of ["click", "auxclick"]) {
      frame.contentDocument?.addEventListener(type, (e) => e.preventDefault(), true);
    }
  });
  images.addEventListener("change", () => draw());

  /** Called on every redraw of the profile: fetches again, at most every few seconds. */
  card.refresh = () => {
    if (pending) return;
    const wait = Math.max(0, last + EVERY_MS - Date.now());
    pending = setTimeout(() => {
      pending = null;
      last = Date.now();
      fetchBlock().catch((err) => {
        note.textContent = `Could not render the block: ${err.message}`;
      });
    }, wait);
  };
  return card;
}
