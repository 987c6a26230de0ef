/**
 * Privacy requests (secret API key): Segment-compatible regulations
 * (`POST /v1/regulations`, `GET /v1/regulations/:id`, and the recent ones,
 * `GET /v1/regulations?limit=&cursor=`), and the one-person
 * shortcuts on a profile: `DELETE /v1/profiles/:id` (erase everywhere and
 * suppress, carried out before it answers) and `GET /v1/profiles/:id/export`
 * (everything still held, as one JSON document).
 */
import { Hono } from "hono";
import { type ProfileRef, parseProfileId } from "../model/profile-id";
import { checkRegulation, normalizeSubject, type SubjectType } from "../model/regulations";
import { exportSubject } from "../privacy/erasure";
import {
  createRegulation,
  enqueueJobs,
  listRegulations,
  parseCursor,
  regulationView,
  runJob,
} from "../privacy/regulations";
import type { AppEnv } from "./app-env";
import { requireApiKey } from "./auth";
import { readJsonBody } from "./body";
import { ApiError } from "./errors";
import { limitParam } from "./profiles";

export const privacyRoutes = new Hono<AppEnv>();
privacyRoutes.use("/v1/regulations", requireApiKey());
privacyRoutes.use("/v1/regulations/*", requireApiKey());
// DELETE and export share /v1/profiles/*, whose key check the profile routes already make.

privacyRoutes.post("/v1/regulations", async (c) => {
  // 5,000 subject ids of at most 256 characters each, with room for the envelope.
  const body = await readJsonBody(c.req.raw, 2 * 1024 * 1024, "regulation");
  // All or nothing: every subject is checked before anything is recorded or carried out.
  const checked = checkRegulation(body);
  if (!checked.ok) throw new ApiError(400, "invalid_regulation", checked.message, checked.details);
  const { id, jobs } = await createRegulation(c.env, checked.request);
  try {
    await enqueueJobs(c.env, jobs);
  } catch (err) {
    // Once recorded, the regulation is the truth and the answer is its id. Some jobs of a failed
    // enqueue may already be queued and erasing, so removing the rows (or answering "not applied")
    // would deny work that is happening; the scheduled resumption sends the missing jobs again
    // from the recorded rows, and GET /v1/regulations/:id shows the progress.
    console.error(JSON.stringify({ msg: "regulation jobs not queued; the cron resumes them", id, error: String(err) }));
  }
  return c.json({ data: { regulateId: id } }, 200);
});

/** The newest regulations first, each with its subjects counted by status; `cursor` is the previous page's `next`. */
privacyRoutes.get("/v1/regulations", async (c) => {
  const limit = limitParam(c.req.query("limit"), 20, 100);
  const raw = c.req.query("cursor");
  const cursor = raw === undefined ? null : parseCursor(raw);
  if (raw !== undefined && cursor === null) {
    throw new ApiError(400, "invalid_cursor", "cursor must be the `pagination.next` value of a previous page");
  }
  const { items, next } = await listRegulations(c.env, limit, cursor);
  return c.json({ data: { regulations: items, pagination: { next } } });
});

privacyRoutes.get("/v1/regulations/:id", async (c) => {
  const view = await regulationView(c.env, c.req.param("id"));
  if (!view) throw new ApiError(404, "regulation_not_found", "no regulation has this id");
  return c.json({ data: { regulation: view } });
});

const SUBJECT_OF: Record<ProfileRef["kind"], SubjectType> = {
  user: "USER_ID",
  anonymous: "ANONYMOUS_ID",
  email: "EMAIL",
  email_hash: "EMAIL_SHA256",
};

function subjectOf(rawId: string): { type: SubjectType; id: string } {
  const parsed = parseProfileId(rawId);
  if (!parsed.ok) throw new ApiError(400, "invalid_profile_id", parsed.reason);
  const type = SUBJECT_OF[parsed.ref.kind];
  return { type, id: normalizeSubject(type, parsed.ref.value) };
}

/** Erases one person everywhere and suppresses them, as a one-subject SUPPRESS_WITH_DELETE regulation run here and now. */
privacyRoutes.delete("/v1/profiles/:id", async (c) => {
  const subject = subjectOf(c.req.param("id"));
  const { id, jobs } = await createRegulation(c.env, {
    regulationType: "SUPPRESS_WITH_DELETE",
    subjectType: subject.type,
    subjectIds: [subject.id],
  });
  for (const j of jobs) await runJob(c.env, j, true);
  const view = await regulationView(c.env, id);
  if (view?.overallStatus !== "FINISHED") {
    throw new ApiError(
      503,
      "erasure_incomplete",
      "the erasure did not finish; send the DELETE again (it is safe to repeat)",
      {
        regulateId: id,
      },
    );
  }
  return c.json({ regulateId: id, status: view.overallStatus, removed: view.subjects[0]?.detail ?? null });
});

privacyRoutes.get("/v1/profiles/:id/export", async (c) => {
  const subject = subjectOf(c.req.param("id"));
  const { footprint, actor, warehouse } = await exportSubject(c.env, subject);
  if (!actor && warehouse.profiles.length === 0 && warehouse.events.length === 0) {
    throw new ApiError(404, "profile_not_found", "nothing is held about this profile");
  }
  c.header("cache-control", "private, no-store");
  c.header("content-disposition", 'attachment; filename="profile-export.json"');
  return c.json({
    exportedAt: new Date().toISOString(),
    subject: { type: subject.type, id: subject.id },
    identifiers: {
      userIds: footprint.userIds,
      anonymousIds: footprint.anonymousIds,
      emails: footprint.emails,
    },
    profile: actor,
    warehouse,
  });
});
