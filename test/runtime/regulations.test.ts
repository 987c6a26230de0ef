/**
 * Regulations at their limits: a request with one bad subject is refused
 * whole, naming it, with nothing recorded or erased; a regulation whose jobs
 * never arrived is resumed by the Cron Trigger and finishes. (A thousand long
 * subject ids carried out through the Queue: test/e2e/regulations.test.ts,
 * where creating a thousand actors costs what it costs outside the test pool.)
 */
import { createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { createRegulation, runJob } from "../../src/privacy/regulations";
import { call, eventually, read, readJson, sendBatch, uid } from "./helpers";

const auth = { authorization: "Bearer test-api-key", "content-type": "application/json" };

interface RegulationView {
  overallStatus: string;
  counts: Record<string, number>;
}

function regulate(body: unknown) {
  return call("/v1/regulations", { method: "POST", headers: auth, body: JSON.stringify(body) });
}

async function regulation(id: string): Promise<RegulationView> {
  return (await readJson<{ data: { regulation: RegulationView } }>(`/v1/regulations/${id}`)).data.regulation;
}

async function settled(id: string, timeoutMs = 20_000): Promise<RegulationView> {
  let last: RegulationView | null = null;
  await eventually(
    async () => {
      last = await regulation(id);
      return last.overallStatus === "FINISHED" || last.overallStatus === "FAILED";
    },
    `regulation ${id} to finish`,
    timeoutMs,
  );
  return last as unknown as RegulationView;
}

async function regulationCount(): Promise<number> {
  return (await env.WAREHOUSE.prepare("SELECT COUNT(*) AS n FROM regulations").first<{ n: number }>())?.n ?? 0;
}

/** The Worker's Cron Trigger, fired as at `scheduledTime`. */
async function runCron(scheduledTime: number) {
  await worker.scheduled(createScheduledController({ scheduledTime, cron: "* * * * *" }), env);
}

describe("a regulation is checked whole before anything happens", () => {
  it("refuses a request with one bad subject among good ones, naming it, and erases and records nothing", async () => {
    const users = [uid("user"), uid("user"), uid("user")];
    await sendBatch(users.map((userId) => ({ type: "identify", userId, traits: { plan: "pro" } })));
    const before = await regulationCount();
    const res = await regulate({
      regulationType: "DELETE_ONLY",
      subjectType: "USER_ID",
      subjectIds: [users[0], users[1], 1001, users[2], "   ", "y".repeat(300)],
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as {
      error: { code: string; message: string; details: { subjects: { index: number; reason: string }[] } };
    };
    expect(body.error.code).toBe("invalid_regulation");
    expect(body.error.message).toMatch(/3 subject ids are invalid.*nothing was recorded/);
    expect(body.error.details.subjects).toEqual([
      { index: 2, reason: expect.stringMatching(/number/) },
      { index: 4, reason: expect.stringMatching(/empty/) },
      { index: 5, reason: expect.stringMatching(/300 characters; the limit is 256/) },
    ]);
    const email = await regulate({
      regulationType: "SUPPRESS_WITH_DELETE",
      subjectType: "EMAIL",
      subjectIds: ["jane@example.com", "jane"],
    });
    expect(email.status).toBe(400);
    expect(((await email.json()) as typeof body).error.details.subjects).toEqual([
      { index: 1, reason: expect.stringMatching(/not an e-mail address/) },
    ]);
    expect(await regulationCount()).toBe(before);
    for (const userId of users) expect((await read(`/v1/profiles/user_id:${userId}`)).status).toBe(200);
  });
});

describe("a regulation whose jobs were lost", () => {
  it("is resumed by the Cron Trigger once its subjects have waited long enough, also a subject left RUNNING", async () => {
    const users = [uid("user"), uid("user")];
    await sendBatch(users.map((userId) => ({ type: "identify", userId, traits: { plan: "pro" } })));
    // Recorded, but its jobs never reach the Queue.
    const { id } = await createRegulation(env, {
      regulationType: "SUPPRESS_WITH_DELETE",
      subjectType: "USER_ID",
      subjectIds: users,
    });
    // A job that died half-way: its first subject was RUNNING when the consumer stopped.
    await env.WAREHOUSE.prepare(
      "UPDATE regulation_subjects SET status = 'RUNNING' WHERE regulation_id = ? AND position = 0",
    )
      .bind(id)
      .run();

    // Within REGULATION_RESUME_AFTER_SECONDS (300) nothing is sent again: a slow job is left alone.
    await runCron(Date.now() + 60_000);
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await regulation(id)).counts).toMatchObject({ RUNNING: 1, INITIALIZED: 1, FINISHED: 0 });
    for (const userId of users) expect((await read(`/v1/profiles/user_id:${userId}`)).status).toBe(200);

    await runCron(Date.now() + 301_000);
    expect(await settled(id)).toMatchObject({ overallStatus: "FINISHED", counts: { FINISHED: 2 } });
    for (const userId of users) expect((await read(`/v1/profiles/user_id:${userId}`)).status).toBe(404);
    const pending = await env.WAREHOUSE.prepare(
      "SELECT COUNT(*) AS n FROM regulation_subjects WHERE regulation_id = ? AND pending_subject IS NOT NULL",
    )
      .bind(id)
      .first<{ n: number }>();
    // Done with, the subjects are kept only as hashes again.
    expect(pending?.n).toBe(0);
  }, 30_000);
});

describe("a regulation job delivered twice", () => {
  it("leaves its finished subjects finished, with the report of the run that erased them", async () => {
    const userId = uid("user");
    await sendBatch([{ type: "identify", userId, traits: { plan: "pro" } }]);
    const { id, jobs } = await createRegulation(env, {
      regulationType: "DELETE_ONLY",
      subjectType: "USER_ID",
      subjectIds: [userId],
    });
    const [job] = jobs;
    if (!job) throw new Error("the regulation has no job");
    await runJob(env, job, false);
    const first = await readJson<{ data: { regulation: { subjects: { status: string; detail: unknown }[] } } }>(
      `/v1/regulations/${id}`,
    );
    expect(first.data.regulation.subjects[0]).toMatchObject({ status: "FINISHED", detail: { profiles: 1 } });
    await runJob(env, job, false);
    const again = await readJson<typeof first>(`/v1/regulations/${id}`);
    expect(again.data.regulation.subjects).toEqual(first.data.regulation.subjects);
  });
});
