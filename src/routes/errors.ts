/**
 * One error shape for the whole API: `{ error: { code, message, details? } }`.
 * Expected failures are `ApiError`s; anything else is logged with its context
 * and answered with a 500 that leaks nothing.
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { z } from "zod";
import { describeIssue } from "../model/validate";

export class ApiError extends HTTPException {
  constructor(
    status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    /** Response headers the answer must carry (`Retry-After` on a 429). */
    readonly headers?: Record<string, string>,
  ) {
    super(status, { message });
  }
}

export function errorBody(code: string, message: string, details?: unknown) {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}

export function onError(err: Error, c: Context) {
  if (err instanceof ApiError) {
    return c.json(errorBody(err.code, err.message, err.details), err.status, err.headers);
  }
  if (err instanceof HTTPException) {
    return c.json(errorBody("http_error", err.message || "request failed"), err.status);
  }
  console.error(
    JSON.stringify({
      msg: "unhandled error",
      method: c.req.method,
      // The route's pattern, not the path: paths carry link tokens, profile ids and e-mail addresses.
      route: c.req.routePath,
      error: String(err),
      stack: err.stack,
    }),
  );
  return c.json(errorBody("internal", "internal error; the request was not applied — retry it"), 500);
}

export function notFound(c: Context) {
  return c.json(errorBody("not_found", `no route for ${c.req.method} ${c.req.path}; see /openapi.json`), 404);
}

/** A body that failed its schema: 400 with `code`, what was wrong with the first few fields, and their paths. */
export function invalidBody(code: string, error: z.ZodError): ApiError {
  const issues = error.issues.slice(0, 3);
  return new ApiError(400, code, issues.map(describeIssue).join("; "), {
    fields: issues.map((i) => i.path.map(String).join(".")),
  });
}
