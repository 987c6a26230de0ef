/**
 * `GET /v1/profiles?q=` (secret API key): finding people. What was typed is
 * read as a profile id — an address is an `email:` id, a typed
 * `anonymous_id:`/`user_id:` prefix is kept, anything else a user id — and
 * looked up in that person's actor, so someone who arrived a second ago is
 * found; the warehouse adds people whose user id or e-mail starts with it.
 * Always 200: nobody found is an empty list, not an error.
 *
 * The warehouse part is a bounded scan (`LIMIT`, newest first) over the
 * profile dimension, fine for an operator's search box over a few hundred
 * thousand people; beyond that, search belongs in the warehouse's own tools.
 */
import { sql } from "drizzle-orm";
import { Hono } from "hono";
import { warehouseDb } from "../catalog/store";
import type { ProfileSearchResponse } from "../model/views";
import type { AppEnv } from "./app-env";
import { requireApiKey } from "./auth";
import { ApiError } from "./errors";
import { limitParam, resolveProfile } from "./profiles";

export const profileSearchRoutes = new Hono<AppEnv>();

type SearchItem = ProfileSearchResponse["items"][number];

/** What a search box holds, as a profile id. */
export function searchedId(q: string): string {
  if (/^(user_id|anonymous_id|email|email_sha256):/.test(q)) return q;
  return q.includes("@") ? `email:${q}` : `user_id:${q}`;
}

const text = (v: unknown) => (typeof v === "string" ? v : null);

interface WarehouseMatch {
  profile_id: string;
  user_id: string | null;
  email: string | null;
  name: string | null;
  last_seen: number;
}

profileSearchRoutes.get("/v1/profiles", requireApiKey(), async (c) => {
  const q = (c.req.query("q") ?? "").trim();
  if (q.length === 0 || q.length > 256) {
    throw new ApiError(
      400,
      "invalid_query",
      "q must be 1 to 256 characters: a user id, an e-mail address or a prefix of one",
    );
  }
  const limit = limitParam(c.req.query("limit"), 20, 100);
  const items: SearchItem[] = [];
  const resolved = await resolveProfile(c.env, searchedId(q));
  const exact = resolved.ok ? await resolved.profile.stub.readProfile() : null;
  if (exact) {
    items.push({
      id: exact.id,
      userId: exact.userId,
      email: text(exact.traits.email),
      name: text(exact.traits.name),
      lastSeen: exact.lastSeen,
      match: "exact",
    });
  }
  // A prefix is matched literally: LIKE's wildcards in what was typed are escaped.
  const prefix = `${q.replace(/[\\%_]/g, (m) => `\\${m}`)}%`;
  const rows = await warehouseDb(c.env.WAREHOUSE).all<WarehouseMatch>(sql`
    SELECT profile_id, user_id, json_extract(traits, '$.email') AS email, json_extract(traits, '$.name') AS name, last_seen
    FROM profiles
    WHERE user_id LIKE ${prefix} ESCAPE '\\' OR json_extract(traits, '$.email') LIKE ${prefix} ESCAPE '\\'
    ORDER BY last_seen DESC LIMIT ${limit}`);
  for (const r of rows) {
    if (items.length >= limit) break;
    if (items.some((i) => i.id === r.profile_id)) continue;
    items.push({
      id: r.profile_id,
      userId: r.user_id,
      email: text(r.email),
      name: text(r.name),
      lastSeen: new Date(r.last_seen).toISOString(),
      match: "prefix",
    });
  }
  c.header("cache-control", "no-store");
  return c.json({ items });
});
