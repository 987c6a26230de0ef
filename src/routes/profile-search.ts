/**
 * `GET /v1/profiles?q=` (secret API key): finding people. What was typed is
 * read as a profile id — an address is an `email:` id, a typed
 * `anonymous_id:`/`user_id:`/`email:` prefix is kept, anything else a user
 * id — and looked up in that person's actor, so someone who arrived a second
 * ago is found; unless `match=exact`, the warehouse adds people whose user
 * id or e-mail address starts with the text (case-sensitive, as stored).
 * Always 200: nobody found is an empty list, not an error.
 *
 * Each warehouse part is a range of an index (`profiles_user_id`, and
 * `profiles_email` on the e-mail trait), read in index order up to `limit`:
 * its cost follows the page, not the number of people.
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
function searchedId(q: string): string {
  if (/^(user_id|anonymous_id|email|email_sha256):/.test(q)) return q;
  return q.includes("@") ? `email:${q}` : `user_id:${q}`;
}

/** The prefixes the warehouse is searched by: a typed `user_id:` or `email:` narrows to that one. */
function prefixesOf(q: string): { userId: string | null; email: string | null } {
  if (q.startsWith("user_id:")) return { userId: q.slice(8), email: null };
  if (q.startsWith("email:")) return { userId: null, email: q.slice(6) };
  if (/^(anonymous_id|email_sha256):/.test(q)) return { userId: null, email: null };
  return { userId: q, email: q };
}

/** Past every string that starts with the prefix, in SQLite's binary order. */
const AFTER_PREFIX = "\u{10FFFF}";

const text = (v: unknown) => (typeof v === "string" ? v : null);

interface WarehouseMatch {
  profile_id: string;
  user_id: string | null;
  email: string | null;
  name: string | null;
  last_seen: number;
}

const COLUMNS = sql`profile_id, user_id, json_extract(traits, '$.email') AS email, json_extract(traits, '$.name') AS name, last_seen`;

profileSearchRoutes.get("/v1/profiles", requireApiKey(), async (c) => {
  const q = (c.req.query("q") ?? "").trim();
  if (q.length === 0 || q.length > 256) {
    throw new ApiError(
      400,
      "invalid_query",
      "q must be 1 to 256 characters: a user id, an e-mail address or a prefix of one",
    );
  }
  const match = c.req.query("match") ?? "any";
  if (match !== "any" && match !== "exact") {
    throw new ApiError(400, "invalid_match", `match must be any or exact; got "${match.slice(0, 20)}"`);
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
  const prefix = prefixesOf(q);
  if (match === "any" && (prefix.userId || prefix.email)) {
    const db = warehouseDb(c.env.WAREHOUSE);
    const byUserId = prefix.userId
      ? db.all<WarehouseMatch>(sql`SELECT ${COLUMNS} FROM profiles
          WHERE user_id >= ${prefix.userId} AND user_id < ${prefix.userId + AFTER_PREFIX}
          ORDER BY user_id LIMIT ${limit}`)
      : [];
    const byEmail = prefix.email
      ? db.all<WarehouseMatch>(sql`SELECT ${COLUMNS} FROM profiles
          WHERE json_extract(traits, '$.email') >= ${prefix.email}
            AND json_extract(traits, '$.email') < ${prefix.email + AFTER_PREFIX}
          ORDER BY json_extract(traits, '$.email') LIMIT ${limit}`)
      : [];
    for (const r of [...(await byUserId), ...(await byEmail)]) {
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
  }
  c.header("cache-control", "no-store");
  return c.json({ items });
});
