import type { D1Migration } from "@cloudflare/vitest-pool-workers";
import type { Env as WorkerEnv } from "../../src/env";

declare global {
  namespace Cloudflare {
    interface GlobalProps {
      mainModule: typeof import("../../src/index");
      durableNamespaces: "ProfileActor";
    }
    interface Env extends WorkerEnv {
      TEST_MIGRATIONS: D1Migration[];
      /** The ESP webhook stand-in of the audience tests (vitest.audiences.config.mts). */
      TEST_ESP_URL?: string;
    }
  }
}
