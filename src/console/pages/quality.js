/** quality: placeholder until its page is written. */
import { el } from "../lib.js";

export const title = "Quality";

export async function render(page) {
  page.replaceChildren(el("h1", {}, title));
}
