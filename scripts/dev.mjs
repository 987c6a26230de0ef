#!/usr/bin/env node
/**
 * `npm run dev`: local keys in `.dev.vars` (created once, never overwritten),
 * the D1 warehouse migrated, `wrangler dev` on 127.0.0.1:8787 (or $PORT) with
 * on-disk state in `.wrangler/state`, and the demo catalog loaded into an
 * empty catalog.
 */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const port = Number(process.env.PORT ?? 8787);
const persist = process.env.PERSIST_DIR ?? join(root, ".wrangler", "state");
const wrangler = join(root, "node_modules", ".bin", "wrangler");
const varsPath = join(root, ".dev.vars");

export const LOCAL_WRITE_KEY = "local-write-key";
export const LOCAL_BROWSER_KEY = "local-browser-key";
export const LOCAL_API_KEY = "local-api-key";
export const LOCAL_MERGE_KEY = "local-merge-key";

if (!existsSync(varsPath)) {
  writeFileSync(
    varsPath,
    [
      "# Local development keys, created by `npm run dev`. Never used in production:",
      "# set real ones with `wrangler secret put WRITE_KEYS` (and BROWSER_WRITE_KEYS, API_KEYS, LINK_SIGNING_SECRET,",
      "# IDENTITY_VERIFICATION_SECRET).",
      `WRITE_KEYS=${LOCAL_WRITE_KEY}`,
      `BROWSER_WRITE_KEYS=${LOCAL_BROWSER_KEY}`,
      `IDENTITY_VERIFICATION_SECRET=${randomBytes(32).toString("hex")}`,
      `API_KEYS=${LOCAL_API_KEY}`,
      `MERGE_KEYS=${LOCAL_MERGE_KEY}`,
      `LINK_SIGNING_SECRET=${randomBytes(32).toString("hex")}`,
      "",
    ].join("\n"),
  );
  console.log(`created ${varsPath}`);
}
const vars = Object.fromEntries(
  readFileSync(varsPath, "utf8")
    .split("\n")
    .filter((l) => /^[A-Z_]+=/.test(l))
    .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1).trim()]),
);
const writeKey = (vars.WRITE_KEYS ?? "").split(",")[0]?.trim();
const browserKey = (vars.BROWSER_WRITE_KEYS ?? "").split(",")[0]?.trim();
if (!browserKey) {
  console.warn(
    `${varsPath} has no BROWSER_WRITE_KEYS: web pages, pixels and /t.js need a browser write key — add BROWSER_WRITE_KEYS=${LOCAL_BROWSER_KEY} to it`,
  );
}
const apiKey = (vars.API_KEYS ?? "").split(",")[0]?.trim();

const migrate = spawnSync(
  wrangler,
  ["d1", "migrations", "apply", "edge-profiles", "--local", "--persist-to", persist],
  { cwd: root, stdio: "inherit", env: { ...process.env, CI: "1" } },
);
if (migrate.status !== 0) process.exit(migrate.status ?? 1);

const child = spawn(
  wrangler,
  ["dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", persist, "--show-interactive-dev-session=false"],
  // No network here: use Miniflare's placeholder `request.cf` instead of fetching one.
  { cwd: root, stdio: "inherit", env: { CLOUDFLARE_CF_FETCH_ENABLED: "false", ...process.env } },
);
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code) => process.exit(code ?? 0));

const base = `http://127.0.0.1:${port}`;

async function waitForHealth() {
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) return true;
    } catch {}
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

async function loadDemoCatalog() {
  const headers = { authorization: `Bearer ${apiKey}`, "content-type": "application/json" };
  const existing = await fetch(`${base}/v1/catalog/products?limit=1`, { headers });
  if (!existing.ok) {
    console.warn(`could not read the catalog (${existing.status}); is API_KEYS set in .dev.vars?`);
    return;
  }
  if ((await existing.json()).products.length > 0) return;
  const body = readFileSync(join(root, "scripts", "demo-catalog.json"), "utf8");
  const res = await fetch(`${base}/v1/catalog/products`, { method: "PUT", headers, body });
  console.log(
    res.ok
      ? `loaded the demo catalog (${(await res.json()).upserted} products)`
      : `demo catalog failed: ${res.status} ${await res.text()}`,
  );
}

if (await waitForHealth()) {
  await loadDemoCatalog();
  console.log(
    `\nedge-profiles is running at ${base}\n  server write key:  ${writeKey}\n  browser write key: ${browserKey || "(none)"}\n  API key:           ${apiKey}\n`,
  );
}
