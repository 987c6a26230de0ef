/**
 * The recent regulations (`GET /v1/regulations?limit=&cursor=`): newest
 * first, each with its subjects counted by status and the status they roll
 * up to, a page at a time; every answer parsed with the strict schema
 * /openapi.json is generated from.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { regulationDetail, regulationList } from "../../src/model/regulation-views";
import { createRegulation } from "../../src/privacy/regulations";
import { API_KEY, call, eventually, read, readJson, sendBatch, uid } from "./helpers";

const list = async (query = "") => regulationList.parse(await readJson(`/v1/regulations${query}`)).data;

describe("the list of regulations", () => {
  it("is empty before the first, with no next page", async () => {
    expect(await list()).toEqual({ regulations: [], pagination: { next: null } });
  });

  it("lists the newest first, each with its subjects counted, a page at a time", async () => {
    const t = Date.UTC(2030, 0, 1);
    // Recorded (not carried out) at known instants: two share one, ordered by id between them.
    const older = await createRegulation(
      env,
      { regulationType: "DELETE_ONLY", subjectType: "USER_ID", subjectIds: ["a", "b"] },
      t,
    );
    const twinA = await createRegulation(
      env,
      { regulationType: "SUPPRESS_ONLY", subjectType: "USER_ID", subjectIds: ["c"] },
      t + 1000,
    );
    const twinB = await createRegulation(
      env,
      {
        regulationType: "UNSUPPRESS",
        subjectType: "EMAIL",
        subjectIds: ["d@example.com", "e@example.com", "f@example.com"],
      },
      t + 1000,
    );
    const twins = [twinA.id, twinB.id].sort().reverse();

    const first = await list("?limit=2");
    expect(first.regulations.map((r) => r.id)).toEqual(twins);
    const b = first.regulations.find((r) => r.id === twinB.id);
    expect(b).toEqual({
      id: twinB.id,
      regulationType: "UNSUPPRESS",
      subjectType: "EMAIL",
      overallStatus: "INITIALIZED",
      createdAt: new Date(t + 1000).toISOString(),
      finishedAt: null,
      counts: { INITIALIZED: 3, RUNNING: 0, FINISHED: 0, FAILED: 0 },
    });
    expect(first.pagination.next).not.toBeNull();

    const second = await list(`?limit=2&cursor=${encodeURIComponent(first.pagination.next ?? "")}`);
    expect(second.regulations.map((r) => r.id)).toEqual([older.id]);
    expect(second.regulations[0]?.counts.INITIALIZED).toBe(2);
    expect(second.pagination.next).toBeNull();
  });

  it("shows a regulation carried out as FINISHED, with the count the detail gives", async () => {
    const userId = uid("listed");
    await sendBatch([{ type: "identify", userId, traits: { plan: "pro" } }]);
    const res = await call("/v1/regulations", {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ regulationType: "SUPPRESS_WITH_DELETE", subjectType: "USER_ID", subjectIds: [userId] }),
    });
    expect(res.status).toBe(200);
    const { regulateId } = ((await res.json()) as { data: { regulateId: string } }).data;
    await eventually(
      async () => (await list()).regulations.find((r) => r.id === regulateId)?.overallStatus === "FINISHED",
      "the regulation listed as FINISHED",
    );
    const listed = (await list()).regulations.find((r) => r.id === regulateId);
    const detail = regulationDetail.parse(await readJson(`/v1/regulations/${regulateId}`)).data.regulation;
    expect(listed?.counts).toEqual({ INITIALIZED: 0, RUNNING: 0, FINISHED: 1, FAILED: 0 });
    expect(listed?.finishedAt).toBe(detail.finishedAt);
    expect(detail.subjects[0]?.detail).toMatchObject({
      actorsWiped: expect.any(Number),
      warehouseRows: expect.any(Number),
    });
  }, 30_000);

  it("refuses a cursor it did not give and a limit out of range, and needs the API key", async () => {
    const cursor = await read("/v1/regulations?cursor=reg_nothing");
    expect(cursor.status).toBe(400);
    expect(((await cursor.json()) as { error: { code: string } }).error.code).toBe("invalid_cursor");
    const limit = await read("/v1/regulations?limit=101");
    expect(limit.status).toBe(400);
    expect(((await limit.json()) as { error: { message: string } }).error.message).toMatch(/from 1 to 100/);
    expect((await call("/v1/regulations")).status).toBe(401);
  });
});
