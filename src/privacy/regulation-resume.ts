/**
 * Resuming regulations whose work was lost: the Worker's Cron Trigger
 * (`scheduled`, every minute) finds subjects still INITIALIZED or RUNNING
 * whose row nobody has touched for `REGULATION_RESUME_AFTER_SECONDS`, and
 * queues their jobs again from the recorded rows. A job may be lost before it
 * is queued (the enqueue failed after the rows were recorded), in the Queue
 * (an unreadable message is dropped), or half-way (the consumer died with a
 * subject RUNNING); erasure and suppression are idempotent, so sending a
 * subject again is always safe, also when the first job was only slow.
 *
 * Subjects recorded before the clear subject was kept while pending
 * (`pending_subject`, migration 0004) cannot be sent again: only their hash
 * is known. They stay as they are, visible as not finished.
 */
import { sql } from "drizzle-orm";
import type { Env } from "../env";
import type { RegulationType, SubjectType } from "../model/regulations";
import { settingsOf } from "../model/settings";
import { prepare } from "../sink/warehouse-writer";
import { enqueueJobs, jobsOf, type RegulationJob } from "./regulations";

/** Subjects resumed per run at most: one run stays short, and the next minute takes the rest. */
const SUBJECTS_PER_RUN = 5_000;

interface StaleSubject {
  regulation_id: string;
  regulation_type: RegulationType;
  subject_type: SubjectType;
  position: number;
  pending_subject: string;
}

export interface ResumeReport {
  regulations: number;
  subjects: number;
  jobs: number;
}

/**
 * Queues again the jobs of subjects left unfinished and untouched since
 * `now − REGULATION_RESUME_AFTER_SECONDS`, and marks them touched at `now`
 * so the next run waits as long again before sending them once more.
 */
export async function resumeRegulations(env: Env, now = Date.now()): Promise<ResumeReport> {
  const staleBefore = now - settingsOf(env).regulationResumeAfterMs;
  const { results } = await prepare(
    env.WAREHOUSE,
    sql`SELECT s.regulation_id, r.regulation_type, r.subject_type, s.position, s.pending_subject
      FROM regulation_subjects s JOIN regulations r ON r.id = s.regulation_id
      WHERE s.status IN ('INITIALIZED', 'RUNNING') AND s.updated_at <= ${staleBefore}
        AND s.pending_subject IS NOT NULL
      ORDER BY s.regulation_id, s.position LIMIT ${SUBJECTS_PER_RUN}`,
  ).all<StaleSubject>();
  const byRegulation = new Map<string, StaleSubject[]>();
  for (const row of results) {
    const rows = byRegulation.get(row.regulation_id) ?? [];
    rows.push(row);
    byRegulation.set(row.regulation_id, rows);
  }
  let jobs = 0;
  for (const [regulationId, rows] of byRegulation) {
    const [first] = rows;
    if (!first) continue;
    const regulationJobs: RegulationJob[] = jobsOf(
      { regulationId, regulationType: first.regulation_type, subjectType: first.subject_type },
      rows.map((r) => ({ position: r.position, id: r.pending_subject })),
    );
    // Queued first, marked after: a failure in between only sends the subjects once more, which is safe.
    await enqueueJobs(env, regulationJobs);
    await prepare(
      env.WAREHOUSE,
      sql`UPDATE regulation_subjects SET updated_at = ${now}
        WHERE regulation_id = ${regulationId} AND status IN ('INITIALIZED', 'RUNNING')
          AND position IN (SELECT value FROM json_each(${JSON.stringify(rows.map((r) => r.position))}))`,
    ).run();
    jobs += regulationJobs.length;
  }
  const report = { regulations: byRegulation.size, subjects: results.length, jobs };
  if (results.length > 0) console.log(JSON.stringify({ msg: "regulations resumed", ...report }));
  return report;
}
