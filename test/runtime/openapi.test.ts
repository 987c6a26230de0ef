/**
 * `/openapi.json` lists every route the Worker answers, with its method: a
 * client generated from it reaches everything the service offers (the
 * console included, which calls only these routes).
 */
import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { call } from "./helpers";

interface Document {
  paths: Record<string, Record<string, unknown>>;
}

/** Hono's `:id` path parameters as OpenAPI writes them, `{id}`. */
const openApiPath = (path: string) => path.replace(/:([A-Za-z_]+)/g, "{$1}");

describe("the OpenAPI document", () => {
  it("lists every route the app answers, with its method", async () => {
    const doc = (await (await call("/openapi.json")).json()) as Document;
    const routes = app.routes
      .filter((r) => r.method !== "ALL" && r.method !== "OPTIONS" && !r.path.includes("*"))
      // The console's own page and files are a client of the API, not part of it.
      .filter((r) => r.path !== "/" && !r.path.startsWith("/console/"))
      .map((r) => `${r.method} ${openApiPath(r.path)}`);
    const missing = [...new Set(routes)].filter((route) => {
      const [method = "", path = ""] = route.split(" ");
      return doc.paths[path]?.[method.toLowerCase()] === undefined;
    });
    expect(missing).toEqual([]);
  });
});
