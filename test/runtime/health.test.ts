import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

describe("operations", () => {
  it("answers /healthz without a key", async () => {
    const res = await exports.default.fetch("http://edge.test/healthz");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });
});
