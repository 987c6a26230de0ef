/**
 * `/openapi.json` is a valid OpenAPI 3.1 document, checked by a maintained
 * validator against the specification's own JSON Schema
 * (@seriousme/openapi-schema-validator), so a user can generate a client
 * from it.
 */
import { Validator } from "@seriousme/openapi-schema-validator";
import { describe, expect, it } from "vitest";
import { openApiDocument } from "../../src/routes/openapi";

describe("the OpenAPI document", () => {
  it("validates against the OpenAPI 3.1 schema", async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(openApiDocument()) as Record<string, unknown>);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
  });
});
