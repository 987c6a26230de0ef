/**
 * Identity claims that were not applied (secret API key):
 * `GET /v1/identity/conflicts?limit=&before=&kind=&profile=` lists, newest
 * first, the traits browser sources sent for existing users without identity
 * verification and the e-mail addresses they claimed that name another known
 * person. An operator reviews them here; a legitimate one is applied by
 * sending it again from a server source (or with the verification hash).
 */
import { and, desc, eq, lt, or } from "drizzle-orm";
import { Hono } from "hono";
import { warehouseDb } from "../catalog/store";
import { parseProfileId } from "../model/profile-id";
import { identityConflicts } from "../sink/warehouse-schema";
import type { AppEnv } from "./app-env";
import { requireApiKey } from "./auth";
import { ApiError } from "./errors";
import { limitParam } from "./profiles";

export const identityRoutes = new Hono<AppEnv>();
identityRoutes.use("/v1/identity/*", requireApiKey());

const KINDS = ["unverified_traits", "email_claimed"] as const;

/** `user_id:42` as the warehouse keys it, from any accepted spelling of a user or visitor id. */
function warehouseProfileId(raw: string): string {
  const parsed = parseProfileId(raw);
  if (!parsed.ok || (parsed.ref.kind !== "user" && parsed.ref.kind !== "anonymous")) {
    throw new ApiError(400, "invalid_profile", "profile must be user_id:<id> or anonymous_id:<id>");
  }
  return `${parsed.ref.kind === "user" ? "user_id" : "anonymous_id"}:${parsed.ref.value}`;
}

identityRoutes.get("/v1/identity/conflicts", async (c) => {
  const limit = limitParam(c.req.query("limit"), 50, 500);
  const kind = c.req.query("kind");
  if (kind !== undefined && !(KINDS as readonly string[]).includes(kind)) {
    throw new ApiError(400, "invalid_kind", `kind must be one of ${KINDS.join(", ")}`);
  }
  const beforeRaw = c.req.query("before");
  const before = beforeRaw === undefined ? null : Number(beforeRaw);
  if (before !== null && !Number.isInteger(before)) {
    throw new ApiError(400, "invalid_before", "before must be the `next` value of an earlier page");
  }
  const profileRaw = c.req.query("profile");
  const profile = profileRaw === undefined ? null : warehouseProfileId(profileRaw);
  const t = identityConflicts;
  const rows = await warehouseDb(c.env.WAREHOUSE)
    .select()
    .from(t)
    .where(
      and(
        kind ? eq(t.kind, kind) : undefined,
        before !== null ? lt(t.id, before) : undefined,
        profile ? or(eq(t.profileId, profile), eq(t.holderProfileId, profile)) : undefined,
      ),
    )
    .orderBy(desc(t.id))
    .limit(limit + 1);
  const page = rows.slice(0, limit);
  return c.json({
    items: page.map((r) => ({
      id: r.id,
      kind: r.kind,
      receivedAt: new Date(r.receivedAt).toISOString(),
      messageId: r.messageId,
      profileId: r.profileId,
      holderProfileId: r.holderProfileId,
      emailSha256: r.emailSha256,
      claimed: r.claimed,
    })),
    next: rows.length > limit ? (page.at(-1)?.id ?? null) : null,
  });
});
