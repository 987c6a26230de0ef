#!/usr/bin/env node
/**
 * `npm run dev`: local keys in `.dev.vars` (created once, never overwritten),
 * the D1 warehouse migrated, `wrangler dev` on 127.0.0.1:8787 (or $PORT) with
 * on-disk state in `.wrangler/state`, and the demo catalog loaded into an
 * empty catalog.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import {
  banner,
  ensureDevVars,
  keysOf,
  loadDemoCatalog,
  migrateWarehouse,
  readDevVars,
  root,
  waitForHealth,
  wrangler,
} from "./local-setup.mjs";

const port = Number(process.env.PORT ?? 8787);
const persist = process.env.PERSIST_DIR ?? join(root, ".wrangler", "state");

ensureDevVars();
const keys = keysOf(readDevVars());
migrateWarehouse(persist);

const child = spawn(
  wrangler,
  ["dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", persist, "--show-interactive-dev-session=false"],
  // No network here: use Miniflare's placeholder `request.cf` instead of fetching one.
  { cwd: root, stdio: "inherit", env: { CLOUDFLARE_CF_FETCH_ENABLED: "false", ...process.env } },
);
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code) => process.exit(code ?? 0));

const base = `http://127.0.0.1:${port}`;
if (await waitForHealth(base)) {
  await loadDemoCatalog(base, keys.apiKey);
  banner("wrangler dev", base, keys);
}
