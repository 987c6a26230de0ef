/**
 * Catalog: the products the recommendations rank, a page at a time in id
 * order, searched by id, title, brand or category, and one product in full
 * at `#/catalog/<id>`. Product images are not shown: they live on the
 * shop's host, and the console's CSP loads images from its own origin only.
 */
import { api, el, number, section, statusLine, table } from "../lib.js";

export const title = "Catalog";

const PAGE_SIZE = 50;

const price = (p) => (p.price == null ? "—" : `${number(p.price, 2)} ${p.currency}`);
const productLink = (id) => el("a", { href: `#/catalog/${encodeURIComponent(id)}` }, id);

function detailOf(p) {
  const rows = [
    ["Id", p.id],
    ["Title", p.title],
    ["Price", price(p)],
    ["Brand", p.brand ?? "—"],
    ["Categories", p.categories.join(", ") || "—"],
    ["In stock", p.inStock ? "yes" : "no"],
    ["Page", p.url],
    ["Image", p.imageUrl ?? "—"],
  ];
  return el("dl", { class: "fields" }, ...rows.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]));
}

/** Catalog: search and browse the products, and one in full when the hash names it. */
export async function render(page, arg, signal) {
  let form = page.querySelector("#catalog-search");
  if (!form) {
    const input = el("input", {
      id: "catalog-query",
      name: "q",
      type: "search",
      autocomplete: "off",
      maxlength: "100",
    });
    form = el(
      "form",
      { id: "catalog-search", class: "card", role: "search" },
      el("label", { for: "catalog-query" }, "Search by id, title, brand or category"),
      input,
      el("button", { type: "submit" }, "Search"),
    );
    const list = el("div", { id: "catalog-list" });
    const pager = el("div", { class: "actions" });
    const status = statusLine("catalog-status");
    page.replaceChildren(
      el("h1", {}, title),
      form,
      el("div", { id: "product" }),
      section("Products", status, list, pager),
    );

    /** `after` of each page shown so far, for the way back. */
    let pages = [null];
    let query = "";
    const load = async () => {
      const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
      if (query) params.set("q", query);
      const after = pages.at(-1);
      if (after !== null) params.set("after", after);
      // The list outlives one product's view, so its reads follow the page, not the hash.
      const found = await api(`/v1/catalog/products?${params}`);
      const products = found?.products ?? [];
      status.textContent = query
        ? `${products.length}${found?.next ? "+" : ""} ${products.length === 1 && !found?.next ? "product matches" : "products match"} “${query}”.`
        : `Page ${pages.length}: ${products.length} products.`;
      list.replaceChildren(
        table(
          null,
          ["Id", "Title", "Price", "Categories", "Brand", "Stock"],
          products.map((p) => [
            productLink(p.id),
            p.title,
            price(p),
            p.categories.join(", ") || "—",
            p.brand ?? "—",
            p.inStock ? "in stock" : "out of stock",
          ]),
          query ? "No product matches." : "The catalog is empty: PUT /v1/catalog/products adds products.",
        ),
      );
      const previous = el("button", { type: "button", class: "secondary" }, "Previous page");
      previous.disabled = pages.length === 1;
      previous.addEventListener("click", () => {
        pages.pop();
        load().catch(report);
      });
      const next = el("button", { type: "button", class: "secondary" }, "Next page");
      next.disabled = !found?.next;
      next.addEventListener("click", () => {
        pages.push(found.next);
        load().catch(report);
      });
      pager.replaceChildren(previous, next);
    };
    const report = (err) => {
      status.textContent = `Could not read the catalog: ${err.message}`;
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      query = input.value.trim();
      pages = [null];
      load().catch(report);
    });
    await load();
  }

  const product = page.querySelector("#product");
  if (!arg) {
    product.replaceChildren();
    return;
  }
  const found = await api(`/v1/catalog/products/${encodeURIComponent(arg)}`, signal);
  if (found === null) {
    product.replaceChildren(el("p", { class: "card", role: "status" }, `No product ${arg} in the catalog.`));
    return;
  }
  product.replaceChildren(section(found.title, detailOf(found), el("p", {}, el("a", { href: "#/catalog" }, "Close"))));
}
