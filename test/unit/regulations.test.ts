import { describe, expect, it } from "vitest";
import {
  checkRegulation,
  JOB_LIMITS,
  packBySize,
  packSends,
  packSubjects,
  subjectProblems,
} from "../../src/model/regulations";
import { utf8Bytes } from "../../src/model/validate";

const QUEUE_MESSAGE_BYTES = 128 * 1024;
const QUEUE_BATCH_BYTES = 256 * 1024;

describe("regulation jobs fit the Queue's limits", () => {
  const envelope = JSON.stringify({
    v: 1,
    regulationId: `reg_${"0".repeat(32)}`,
    regulationType: "SUPPRESS_WITH_DELETE",
    subjectType: "USER_ID",
    subjects: [],
  });
  const jobBody = (subjects: { position: number; id: string }[]) =>
    `${envelope.slice(0, -2)}${JSON.stringify(subjects)}}`;

  it("1,000 subjects of 256 characters travel in sends each under 256 KB and 100 messages", () => {
    const subjects = Array.from({ length: 1000 }, (_, position) => ({ position, id: "x".repeat(256) }));
    const jobs = packSubjects(subjects, envelope);
    expect(jobs.flat()).toEqual(subjects);
    const bodies = jobs.map(jobBody);
    for (const body of bodies) expect(utf8Bytes(body)).toBeLessThanOrEqual(JOB_LIMITS.jobBytes);
    const sends = packSends(bodies);
    expect(sends.flat()).toEqual(bodies);
    for (const send of sends) {
      expect(send.length).toBeLessThanOrEqual(100);
      const bytes = send.reduce((n, b) => n + utf8Bytes(b) + JOB_LIMITS.messageOverheadBytes, 0);
      expect(bytes).toBeLessThan(QUEUE_BATCH_BYTES);
    }
    // One call of 100 such messages would have been over the batch limit.
    expect(bodies.reduce((n, b) => n + utf8Bytes(b), 0)).toBeGreaterThan(QUEUE_BATCH_BYTES);
    expect(sends.length).toBeGreaterThan(1);
  });

  it("sizes by bytes, not characters: ids that JSON escapes to six bytes a character still fit", () => {
    const subjects = Array.from({ length: 50 }, (_, position) => ({ position, id: "\u0001".repeat(256) }));
    for (const job of packSubjects(subjects, envelope)) {
      const bytes = utf8Bytes(jobBody(job));
      expect(bytes).toBeLessThanOrEqual(JOB_LIMITS.jobBytes);
      expect(bytes).toBeLessThan(QUEUE_MESSAGE_BYTES);
    }
  });

  it("keeps order, closes a group at its item or byte limit, and refuses an item that can never fit", () => {
    const sizes = [4, 4, 4, 9, 1];
    expect(packBySize(sizes, (n) => n, { maxItems: 10, maxBytes: 10, overhead: 1 })).toEqual([[4, 4], [4], [9], [1]]);
    expect(packBySize([1, 1, 1], (n) => n, { maxItems: 2, maxBytes: 100 })).toEqual([[1, 1], [1]]);
    expect(packBySize([], (n: number) => n, { maxItems: 2, maxBytes: 100 })).toEqual([]);
    expect(() => packBySize([11], (n) => n, { maxItems: 2, maxBytes: 10 })).toThrow(/cannot fit/);
  });
});

describe("regulation subjects are checked all at once", () => {
  it("names every bad subject with its position and reason", () => {
    const problems = subjectProblems("EMAIL", ["a@example.com", "", 1001, "x".repeat(257), "not-an-address", null]);
    expect(problems.map((p) => p.index)).toEqual([1, 2, 3, 4, 5]);
    expect(problems.map((p) => p.reason)).toEqual([
      expect.stringMatching(/empty/),
      expect.stringMatching(/number; send every id as a string/),
      expect.stringMatching(/257 characters; the limit is 256/),
      expect.stringMatching(/not an e-mail address/),
      expect.stringMatching(/null; send it as a string/),
    ]);
    expect(subjectProblems("USER_ID", ["1001", " 42 ", "not-an-address"])).toEqual([]);
  });

  it("refuses the whole request when one subject is bad, and trims the good ones when none is", () => {
    const bad = checkRegulation({ regulationType: "DELETE_ONLY", subjectType: "USER_ID", subjectIds: ["a", 7, "b"] });
    expect(bad).toMatchObject({ ok: false, details: { subjects: [{ index: 1 }] } });
    expect(!bad.ok && bad.message).toMatch(/1 subject id is invalid.*nothing was recorded/);
    const good = checkRegulation({ regulationType: "DELETE_ONLY", subjectType: "USER_ID", subjectIds: [" a ", "b"] });
    expect(good).toEqual({
      ok: true,
      request: { regulationType: "DELETE_ONLY", subjectType: "USER_ID", subjectIds: ["a", "b"] },
    });
  });
});
