/**
 * Regulations (Segment's Public API shape): `POST /v1/regulations` records
 * one with its subjects — each kept as a one-way hash, and in the clear only
 * while its work is pending — and queues the work in jobs sized to the
 * Queue's limits; the regulations Queue's consumer carries them out subject
 * by subject (erase, suppress, unsuppress), recording each subject's status,
 * so `GET /v1/regulations/:id` can say how far it got (and `GET
 * /v1/regulations` list the recent ones). A job that fails is
 * retried by the Queue; on its last attempt the subjects it could not finish
 * are marked FAILED. The recorded rows are the truth: a job that never
 * arrives is sent again from them (`./regulation-resume.ts`).
 */
import { and, asc, desc, eq, inArray, sql } from "drizzle-orm";
import { z } from "zod";
import { chunk, rowsPerStatement, warehouseDb } from "../catalog/store";
import type { Env } from "../env";
import {
  effectsOf,
  type JobSubject,
  normalizeSubject,
  overallStatus,
  packSends,
  packSubjects,
  privacyHash,
  REGULATION_TYPES,
  type RegulationRequest,
  SUBJECT_TYPES,
  type SubjectStatus,
} from "../model/regulations";
import { regulationSubjects, regulations } from "../sink/warehouse-schema";
import { eraseSubject, type Subject, setSubjectSuppressed } from "./erasure";

export const REGULATIONS_QUEUE = "edge-profiles-regulations";
/** The last delivery of a job: the regulations consumer's `max_retries` (4, wrangler.toml) plus the first. */
const MAX_ATTEMPTS = 5;

const job = z.object({
  v: z.literal(1),
  regulationId: z.string(),
  regulationType: z.enum(REGULATION_TYPES),
  subjectType: z.enum(SUBJECT_TYPES),
  subjects: z.array(z.object({ position: z.number().int(), id: z.string() })),
});
export type RegulationJob = z.infer<typeof job>;

/** A regulation's subjects as jobs, each Queue message well within the Queue's size limit (`packSubjects`). */
export function jobsOf(
  regulation: Pick<RegulationJob, "regulationId" | "regulationType" | "subjectType">,
  subjects: readonly JobSubject[],
): RegulationJob[] {
  const head = { v: 1 as const, ...regulation };
  const envelope = JSON.stringify({ ...head, subjects: [] });
  return packSubjects(subjects, envelope).map((part) => ({ ...head, subjects: part }));
}

/** Records a regulation and its subjects; returns its id and the jobs that carry it out. */
export async function createRegulation(env: Env, request: RegulationRequest, now = Date.now()) {
  const id = `reg_${crypto.randomUUID().replaceAll("-", "")}`;
  const subjects = request.subjectIds.map((raw, position) => ({
    position,
    id: normalizeSubject(request.subjectType, raw),
  }));
  const hashes = await Promise.all(subjects.map((s) => privacyHash(`subject:${request.subjectType}`, s.id)));
  const db = warehouseDb(env.WAREHOUSE);
  const rows = subjects.map((s, i) => ({
    regulationId: id,
    position: s.position,
    subjectHash: hashes[i] ?? "",
    status: "INITIALIZED",
    updatedAt: now,
    // Kept until the subject is done, so a lost job can be sent again; the hash alone cannot be carried out.
    pendingSubject: s.id,
  }));
  await db.batch([
    db.insert(regulations).values({
      id,
      regulationType: request.regulationType,
      subjectType: request.subjectType,
      createdAt: now,
    }),
    ...chunk(rows, rowsPerStatement(7)).map((part) => db.insert(regulationSubjects).values(part)),
  ]);
  const jobs = jobsOf(
    { regulationId: id, regulationType: request.regulationType, subjectType: request.subjectType },
    subjects,
  );
  return { id, jobs };
}

/** Hands jobs to the regulations Queue, each `sendBatch` within the Queue's per-call limits (`packSends`). */
export async function enqueueJobs(env: Env, jobs: readonly RegulationJob[]) {
  for (const bodies of packSends(jobs.map((j) => JSON.stringify(j)))) {
    await env.REGULATION_QUEUE.sendBatch(bodies.map((body) => ({ body })));
  }
}

async function setSubjectStatus(
  env: Env,
  regulationId: string,
  position: number,
  status: SubjectStatus,
  detail: string | null,
) {
  const db = warehouseDb(env.WAREHOUSE);
  const done = status === "FINISHED" || status === "FAILED";
  await db
    .update(regulationSubjects)
    // A subject done with is kept only as its hash.
    .set({ status, detail, updatedAt: Date.now(), ...(done ? { pendingSubject: null } : {}) })
    .where(and(eq(regulationSubjects.regulationId, regulationId), eq(regulationSubjects.position, position)));
}

/**
 * Subjects of one job carried out side by side: each waits mostly on D1, R2
 * and actor round trips, so a few at once finish a long regulation several
 * times sooner without crowding out the Worker's other requests.
 */
const SUBJECTS_IN_PARALLEL = 4;

/**
 * Carries out one job; `finalAttempt` turns a failure into FAILED subjects
 * instead of a retry. Every subject not yet done with is marked RUNNING in
 * one statement; each is then recorded FINISHED (or FAILED) as it completes.
 */
export async function runJob(env: Env, j: RegulationJob, finalAttempt: boolean): Promise<void> {
  const effects = effectsOf(j.regulationType);
  const positions = JSON.stringify(j.subjects.map((s) => s.position));
  const unfinished = await warehouseDb(env.WAREHOUSE)
    .update(regulationSubjects)
    .set({ status: "RUNNING", updatedAt: Date.now() })
    .where(
      and(
        eq(regulationSubjects.regulationId, j.regulationId),
        sql`${regulationSubjects.position} IN (SELECT value FROM json_each(${positions}))`,
        // A job sent again (resumed, or delivered twice) never moves a finished subject back.
        sql`${regulationSubjects.status} IN ('INITIALIZED', 'RUNNING')`,
      ),
    )
    .returning({ position: regulationSubjects.position });
  // Only those: a finished subject keeps its report.
  const open = new Set(unfinished.map((r) => r.position));
  const queue = j.subjects.filter((s) => open.has(s.position));
  let firstError: unknown = null;
  const carryOut = async () => {
    for (let s = queue.shift(); s; s = queue.shift()) {
      const subject: Subject = { type: j.subjectType, id: s.id };
      try {
        const report = effects.erase
          ? await eraseSubject(env, subject, { suppress: effects.suppress === true })
          : await setSubjectSuppressed(env, subject, effects.suppress === true);
        await setSubjectStatus(env, j.regulationId, s.position, "FINISHED", JSON.stringify(report));
      } catch (err) {
        if (!finalAttempt) {
          // The whole job is retried; what finished stays FINISHED, and doing it again is safe.
          firstError ??= err;
          queue.length = 0;
          return;
        }
        await setSubjectStatus(env, j.regulationId, s.position, "FAILED", String(err).slice(0, 500));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(SUBJECTS_IN_PARALLEL, queue.length) }, carryOut));
  if (firstError !== null) throw firstError;
  await finishIfDone(env, j.regulationId);
}

async function finishIfDone(env: Env, regulationId: string) {
  const db = warehouseDb(env.WAREHOUSE);
  await db
    .update(regulations)
    .set({ finishedAt: Date.now() })
    .where(
      and(
        eq(regulations.id, regulationId),
        sql`${regulations.finishedAt} IS NULL`,
        sql`NOT EXISTS (SELECT 1 FROM regulation_subjects WHERE regulation_id = ${regulationId}
          AND status NOT IN ('FINISHED', 'FAILED'))`,
      ),
    );
}

/** The regulations Queue's consumer: one job per message. */
export async function consumeRegulations(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  for (const msg of batch.messages) {
    let parsed: RegulationJob;
    try {
      parsed = job.parse(typeof msg.body === "string" ? JSON.parse(msg.body) : msg.body);
    } catch {
      // Nothing can ever carry it out; its regulation's subjects stay visible as not finished.
      console.error(JSON.stringify({ msg: "unreadable regulation job", id: msg.id }));
      msg.ack();
      continue;
    }
    try {
      await runJob(env, parsed, msg.attempts >= MAX_ATTEMPTS);
      msg.ack();
    } catch (err) {
      console.error(
        JSON.stringify({
          msg: "regulation job failed",
          regulation: parsed.regulationId,
          attempts: msg.attempts,
          error: String(err),
        }),
      );
      msg.retry({ delaySeconds: Math.min(60, 2 ** msg.attempts) });
    }
  }
}

export interface RegulationView {
  id: string;
  regulationType: string;
  subjectType: string;
  overallStatus: SubjectStatus;
  createdAt: string;
  finishedAt: string | null;
  counts: Record<SubjectStatus, number>;
  subjects: { position: number; subjectHash: string; status: SubjectStatus; detail: unknown }[];
}

export async function regulationView(env: Env, id: string): Promise<RegulationView | null> {
  const db = warehouseDb(env.WAREHOUSE);
  const [found, subjects] = await db.batch([
    db.select().from(regulations).where(eq(regulations.id, id)),
    db
      .select()
      .from(regulationSubjects)
      .where(eq(regulationSubjects.regulationId, id))
      .orderBy(asc(regulationSubjects.position)),
  ]);
  const r = found[0];
  if (!r) return null;
  const statuses = subjects.map((s) => s.status as SubjectStatus);
  const counts = { INITIALIZED: 0, RUNNING: 0, FINISHED: 0, FAILED: 0 };
  for (const s of statuses) counts[s] += 1;
  return {
    id: r.id,
    regulationType: r.regulationType,
    subjectType: r.subjectType,
    overallStatus: overallStatus(statuses),
    createdAt: new Date(r.createdAt).toISOString(),
    finishedAt: r.finishedAt === null ? null : new Date(r.finishedAt).toISOString(),
    counts,
    subjects: subjects.map((s) => ({
      position: s.position,
      subjectHash: s.subjectHash,
      status: s.status as SubjectStatus,
      detail: s.detail && s.status === "FINISHED" ? JSON.parse(s.detail) : s.detail,
    })),
  };
}

/** Where a page of the list starts: after this regulation, in (createdAt, id) descending order. */
export interface RegulationCursor {
  createdAt: number;
  id: string;
}

const CURSOR = /^(\d{1,15})\.(reg_[0-9a-f]{32})$/;

export const cursorOf = (r: RegulationCursor) => `${r.createdAt}.${r.id}`;

/** A `next` value read back; null when it is not one. */
export function parseCursor(raw: string): RegulationCursor | null {
  const m = CURSOR.exec(raw);
  return m?.[1] && m[2] ? { createdAt: Number(m[1]), id: m[2] } : null;
}

export type RegulationSummary = Omit<RegulationView, "subjects">;

/**
 * The newest regulations (after `cursor`), each with its subjects counted by
 * status: two statements, the second keyed by the page's ids (at most 100,
 * D1's parameter limit), so a page costs the same however many subjects a
 * regulation holds.
 */
export async function listRegulations(
  env: Env,
  limit: number,
  cursor: RegulationCursor | null,
): Promise<{ items: RegulationSummary[]; next: string | null }> {
  const db = warehouseDb(env.WAREHOUSE);
  const rows = await db
    .select()
    .from(regulations)
    .where(
      cursor === null
        ? undefined
        : sql`(${regulations.createdAt} < ${cursor.createdAt} OR (${regulations.createdAt} = ${cursor.createdAt} AND ${regulations.id} < ${cursor.id}))`,
    )
    .orderBy(desc(regulations.createdAt), desc(regulations.id))
    .limit(limit + 1);
  const page = rows.slice(0, limit);
  const tallies =
    page.length === 0
      ? []
      : await db
          .select({
            regulationId: regulationSubjects.regulationId,
            status: regulationSubjects.status,
            n: sql<number>`COUNT(*)`,
          })
          .from(regulationSubjects)
          .where(
            inArray(
              regulationSubjects.regulationId,
              page.map((r) => r.id),
            ),
          )
          .groupBy(regulationSubjects.regulationId, regulationSubjects.status);
  const items = page.map((r) => {
    const counts = { INITIALIZED: 0, RUNNING: 0, FINISHED: 0, FAILED: 0 };
    for (const t of tallies) if (t.regulationId === r.id) counts[t.status as SubjectStatus] += t.n;
    // The statuses present are enough for the roll-up: it asks only which occur.
    const present = (Object.keys(counts) as SubjectStatus[]).filter((k) => counts[k] > 0);
    return {
      id: r.id,
      regulationType: r.regulationType,
      subjectType: r.subjectType,
      overallStatus: overallStatus(present),
      createdAt: new Date(r.createdAt).toISOString(),
      finishedAt: r.finishedAt === null ? null : new Date(r.finishedAt).toISOString(),
      counts,
    };
  });
  const last = page.at(-1);
  return { items, next: rows.length > limit && last ? cursorOf(last) : null };
}
