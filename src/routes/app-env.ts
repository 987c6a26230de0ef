/** The Hono environment type shared by every route module. */
import type { Env } from "../env";

export type AppEnv = { Bindings: Env };

/** The service's public origin for links it hands out: `PUBLIC_BASE_URL`, else the origin the request came to. */
export function publicOrigin(env: Pick<Env, "PUBLIC_BASE_URL">, requestUrl: string): string {
  return (env.PUBLIC_BASE_URL || new URL(requestUrl).origin).replace(/\/+$/, "");
}
