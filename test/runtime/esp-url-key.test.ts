/**
 * ESPs whose per-recipient fetch sends no headers (Salesforce Marketing
 * Cloud's AMPscript `HTTPGet`) put a merge key in the URL. Such a key reads
 * the HTML block only, on the merge route only.
 */
import { describe, expect, it } from "vitest";
import { call, sendBatch, uid } from "./helpers";

const MERGE_KEY = "test-merge-key";

describe("a merge key in the URL", () => {
  it("reads the person's HTML block, as HTTPGet would fetch it", async () => {
    const userId = uid();
    await sendBatch([{ type: "identify", userId, traits: { firstName: "Ada" } }]);
    const res = await call(`/v1/merge/user_id:${userId}?format=html&limit=2&key=${MERGE_KEY}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    expect(await res.text()).toContain("<table");
  });

  it("never reads the JSON with traits, nor any other route", async () => {
    const json = await call(`/v1/merge/user_id:${uid()}?key=${MERGE_KEY}`);
    expect(json.status).toBe(401);
    expect(((await json.json()) as { error: { message: string } }).error.message).toMatch(/format=html/);
    expect((await call(`/v1/profiles/user_id:${uid()}?key=${MERGE_KEY}`)).status).toBe(401);
  });

  it("is refused when it is not one of MERGE_KEYS, API keys included", async () => {
    expect((await call(`/v1/merge/user_id:${uid()}?format=html&key=nope`)).status).toBe(401);
    expect((await call(`/v1/merge/user_id:${uid()}?format=html&key=test-api-key`)).status).toBe(401);
  });
});
