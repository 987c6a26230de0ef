import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";

// Setup files run outside isolated storage and may run more than once: the
// migration helper only applies what is not yet applied.
await applyD1Migrations(env.WAREHOUSE, env.TEST_MIGRATIONS);
