/**
 * The merge JSON as an ESP uses it: Braze's Connected Content saves the
 * response into a Liquid variable and the campaign template renders from it.
 * Here liquidjs renders such a template from a real `/v1/merge` answer.
 */
import { Liquid } from "liquidjs";
import { describe, expect, it } from "vitest";
import { call, productFixture, putCatalog, readJson, sendBatch, uid } from "./helpers";

/** A campaign body as a marketer writes it, after `{% connected_content … :save recs %}`. */
const TEMPLATE = `{% if recs.profile.known %}Hi {{ recs.profile.traits.firstName | default: "there" | escape }},{% else %}Hi there,{% endif %}
{% for item in recs.recommendations limit: 3 %}<a href="{{ item.clickUrl }}">{{ item.title | escape }}</a> {{ item.price }} {{ item.currency }} ({{ item.reason | escape }})
{% endfor %}{{ recs.recommendation_block }}`;

interface Merge {
  profile: { known: boolean };
  recommendations: { clickUrl: string; url: string; title: string }[];
  recommendation_block: string;
  open_pixel_url: string;
}

describe("a Liquid campaign template rendered from the merge JSON", () => {
  it("greets the person, links each pick through a signed click and embeds the block", async () => {
    const tag = uid("liq").slice(0, 14);
    // Two categories: the ranking keeps at most two picks from one.
    const products = Array.from({ length: 4 }, (_, i) =>
      productFixture(`${tag}-${i}`, {
        title: i === 0 ? `Trail <Runner> & "Co"` : `Trail ${i}`,
        categories: [`Cat ${tag} ${i % 2}`],
        brand: `Brand ${tag}`,
      }),
    );
    expect((await putCatalog(products)).status).toBe(200);
    const userId = uid();
    await sendBatch([
      { type: "identify", userId, traits: { firstName: "Ada" } },
      {
        type: "track",
        userId,
        event: "Product Viewed",
        properties: { product_id: `${tag}-0`, category: `Cat ${tag}` },
      },
    ]);
    const recs = await readJson<Merge>(`/v1/merge/user_id:${userId}?campaign=autumn&limit=3`);
    const html = await new Liquid().parseAndRender(TEMPLATE, { recs });

    expect(html.startsWith("Hi Ada,")).toBe(true);
    expect(html).toContain("Trail &lt;Runner&gt; &amp; &quot;Co&quot;");
    expect(html).not.toMatch(/undefined|\[object Object\]|<Runner>/);
    const links = [...html.matchAll(/<a href="([^"]+)">/g)].map((m) => m[1] ?? "");
    expect(links).toHaveLength(3);
    expect(html).toContain(recs.recommendation_block);
    expect(html).toContain(recs.open_pixel_url);
    // The first link is a signed click that lands on the product it shows.
    const click = await call(new URL(links[0] ?? "").pathname, { redirect: "manual" });
    expect(click.status).toBe(302);
    expect(click.headers.get("location")).toBe(recs.recommendations[0]?.url);
  });

  it("renders a useful email for someone the service has never seen", async () => {
    const tag = uid("liq").slice(0, 14);
    expect((await putCatalog([productFixture(`${tag}-0`, { categories: [`Cat ${tag}`] })])).status).toBe(200);
    const recs = await readJson<Merge>(`/v1/merge/user_id:${uid()}`);
    const html = await new Liquid().parseAndRender(TEMPLATE, { recs });
    expect(html.startsWith("Hi there,")).toBe(true);
    expect(recs.recommendations.length).toBeGreaterThan(0);
    expect(html).toContain("Popular right now");
  });
});
