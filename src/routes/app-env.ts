/** The Hono environment type shared by every route module. */
import type { Env } from "../env";

export type AppEnv = { Bindings: Env };
