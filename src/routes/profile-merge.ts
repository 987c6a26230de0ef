/**
 * `POST /v1/profiles/merge` `{ from, into, reason? }` (DESIGN §9), secret API
 * key: an operator joins two known people on purpose — the duplicate pair
 * `GET /v1/quality/duplicates` found, say. Identity resolution never does
 * this by itself (two known users are never joined from a public key); here
 * the operator's request becomes one `alias` message (`previousId` = from,
 * `userId` = into) through the same ingestion and merge path as any other:
 * `from`'s actor hands its state over and forwards to `into` from then on,
 * and the alias event and the merged profile reach the warehouse like any
 * change. Every request is audited in D1 `profile_merges`: who asked (a
 * fingerprint of the API key), why, and how it ended.
 */
import { Hono } from "hono";
import { type PersonIdentity, profileActor } from "../actors/client";
import type { IngestResponse } from "../model/messages";
import { publicProfileId } from "../model/profile-id";
import { profileMergeRequest } from "../model/quality-views";
import type { AppEnv } from "./app-env";
import { bearerToken, requireApiKey } from "./auth";
import { readJsonBody } from "./body";
import { ApiError, invalidBody } from "./errors";
import { ingestMessages, OPERATOR_MERGE_SOURCE } from "./ingest-pipeline";
import { fingerprint } from "./limits";
import { resolveProfile } from "./profiles";

export const profileMergeRoutes = new Hono<AppEnv>();

/** A merge still `requested` after this long was lost with its request: it no longer holds the people. */
const MERGE_TIMEOUT_MS = 60_000;

async function knownPerson(env: AppEnv["Bindings"], field: "from" | "into", id: string): Promise<PersonIdentity> {
  const resolved = await resolveProfile(env, id);
  if (!resolved.ok) throw new ApiError(400, "invalid_profile_id", `${field}: ${resolved.reason}`, { fields: [field] });
  const { name } = resolved.profile;
  // An address no one holds resolves to no actor; a visitor's or user's actor answers for the person it is part of.
  const person = name.startsWith("user:") || name.startsWith("anon:") ? await profileActor(env, name).identity() : null;
  if (!person) throw new ApiError(404, "profile_not_found", `${field}: no profile ${id.slice(0, 200)}`);
  if (!person.actorKey.startsWith("user:")) {
    throw new ApiError(
      400,
      "not_a_known_user",
      `${field}: ${id.slice(0, 200)} is an anonymous visitor; a visitor joins a user by identify or alias, not here`,
      { fields: [field] },
    );
  }
  return person;
}

profileMergeRoutes.post("/v1/profiles/merge", requireApiKey(), async (c) => {
  const parsed = profileMergeRequest.safeParse(await readJsonBody(c.req.raw, 4 * 1024, "merge request"));
  if (!parsed.success) {
    throw invalidBody("invalid_merge_request", parsed.error);
  }
  const { from, into, reason } = parsed.data;
  const [source, target] = await Promise.all([knownPerson(c.env, "from", from), knownPerson(c.env, "into", into)]);
  if (source.actorKey === target.actorKey) {
    throw new ApiError(
      409,
      "already_one_person",
      `${from} and ${into} are already one person (${publicProfileId(target.actorKey)})`,
    );
  }
  const fromUser = source.actorKey.slice(5);
  const intoUser = target.actorKey.slice(5);
  const fromProfile = publicProfileId(source.actorKey);
  const intoProfile = publicProfileId(target.actorKey);
  const requestedAt = Date.now();
  const requestedBy = `key:${(await fingerprint(bearerToken(c.req.header("authorization")) ?? "")).slice(0, 12)}`;
  // One merge at a time per person: two crossing merges (A into B, B into A) would point each at the other.
  const audit = await c.env.WAREHOUSE.prepare(
    `INSERT INTO profile_merges (from_profile, into_profile, requested_by, reason, requested_at, status)
     SELECT ?1, ?2, ?3, ?4, ?5, 'requested' WHERE NOT EXISTS (SELECT 1 FROM profile_merges
       WHERE status = 'requested' AND requested_at > ?5 - ?6
         AND (from_profile IN (?1, ?2) OR into_profile IN (?1, ?2)))
     RETURNING id`,
  )
    .bind(fromProfile, intoProfile, requestedBy, reason ?? null, requestedAt, MERGE_TIMEOUT_MS)
    .first<{ id: number }>();
  if (!audit) {
    throw new ApiError(
      409,
      "merge_in_progress",
      `a merge of ${fromProfile} or ${intoProfile} is under way; try again once it ends`,
    );
  }
  // Unguessable: a message sent earlier under the same id would make this one a duplicate.
  const messageId = `operator-merge-${audit.id}-${crypto.randomUUID()}`;
  let status = "failed";
  let answer: IngestResponse | null = null;
  try {
    answer = await ingestMessages(
      c.env,
      (p) => c.executionCtx.waitUntil(p),
      [
        {
          type: "alias",
          userId: intoUser,
          previousId: fromUser,
          messageId,
          context: { operatorMerge: { id: audit.id, reason: reason ?? null } },
        },
      ],
      { source: OPERATOR_MERGE_SOURCE, trust: "server", operatorMerge: messageId },
    );
    // The person says whether it holds the user now: a refusal, or a link decided before, both leave it out.
    const after = await profileActor(c.env, target.actorKey).identity();
    status = after?.mergedUserIds.includes(fromUser) === true ? "merged" : "refused";
  } finally {
    await c.env.WAREHOUSE.prepare("UPDATE profile_merges SET status = ?, finished_at = ? WHERE id = ?")
      .bind(status, Date.now(), audit.id)
      .run();
  }
  const finishedAt = Date.now();
  if (status !== "merged") {
    const why = answer?.warnings?.[0]?.reason ?? answer?.rejected[0]?.reason ?? `${fromProfile} could not be merged`;
    throw new ApiError(409, "merge_refused", why, { auditId: audit.id });
  }
  return c.json({
    id: audit.id,
    from: fromProfile,
    into: intoProfile,
    status: "merged",
    reason: reason ?? null,
    requestedAt: new Date(requestedAt).toISOString(),
    finishedAt: new Date(finishedAt).toISOString(),
  });
});
