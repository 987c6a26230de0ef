/**
 * What `npm run dev` and `npm start` share before and after their runtime
 * starts: local keys in `.dev.vars` (created once, never overwritten), the
 * D1 warehouse migrated in the on-disk state directory, a wait for
 * `/healthz`, the demo catalog loaded into an empty catalog, and the banner
 * with the URL and keys.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const wrangler = join(root, "node_modules", ".bin", "wrangler");
const varsPath = join(root, ".dev.vars");

export const LOCAL_WRITE_KEY = "local-write-key";
export const LOCAL_BROWSER_KEY = "local-browser-key";
export const LOCAL_API_KEY = "local-api-key";
export const LOCAL_MERGE_KEY = "local-merge-key";
export const LOCAL_METRICS_KEY = "local-metrics-key";

/** Secrets a deployment sets with `wrangler secret put`; locally from `.dev.vars`, the environment winning. */
export const SECRET_NAMES = [
  "WRITE_KEYS",
  "BROWSER_WRITE_KEYS",
  "IDENTITY_VERIFICATION_SECRET",
  "API_KEYS",
  "MERGE_KEYS",
  "METRICS_KEYS",
  "ALERT_WEBHOOK_URLS",
  "LINK_SIGNING_SECRET",
  "KAFKA_REST_URL",
  "KAFKA_CLUSTER_ID",
  "KAFKA_TOPIC",
  "KAFKA_API_KEY",
  "KAFKA_API_SECRET",
];

/** Creates `.dev.vars` with fresh local keys when there is none; never overwrites one. */
export function ensureDevVars() {
  if (existsSync(varsPath)) return;
  writeFileSync(
    varsPath,
    [
      "# Local keys, created by `npm run dev` / `npm start`. Never used on Cloudflare:",
      "# set real ones with `wrangler secret put WRITE_KEYS` (and BROWSER_WRITE_KEYS, API_KEYS, LINK_SIGNING_SECRET,",
      "# IDENTITY_VERIFICATION_SECRET).",
      `WRITE_KEYS=${LOCAL_WRITE_KEY}`,
      `BROWSER_WRITE_KEYS=${LOCAL_BROWSER_KEY}`,
      `IDENTITY_VERIFICATION_SECRET=${randomBytes(32).toString("hex")}`,
      `API_KEYS=${LOCAL_API_KEY}`,
      `MERGE_KEYS=${LOCAL_MERGE_KEY}`,
      `METRICS_KEYS=${LOCAL_METRICS_KEY}`,
      `LINK_SIGNING_SECRET=${randomBytes(32).toString("hex")}`,
      "",
    ].join("\n"),
  );
  console.log(`created ${varsPath}`);
}

/** `.dev.vars` as name → value. */
export function readDevVars() {
  if (!existsSync(varsPath)) return {};
  return Object.fromEntries(
    readFileSync(varsPath, "utf8")
      .split("\n")
      .filter((l) => /^[A-Z_][A-Z0-9_]*=/.test(l))
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1).trim()]),
  );
}

const first = (list) => (list ?? "").split(",")[0]?.trim() ?? "";

/** The keys a banner shows, and a warning when the browser key is missing. */
export function keysOf(vars) {
  const keys = {
    writeKey: first(vars.WRITE_KEYS),
    browserKey: first(vars.BROWSER_WRITE_KEYS),
    apiKey: first(vars.API_KEYS),
    metricsKey: first(vars.METRICS_KEYS),
  };
  if (!keys.browserKey) {
    console.warn(
      `no BROWSER_WRITE_KEYS: web pages, pixels and /t.js need a browser write key — add BROWSER_WRITE_KEYS=${LOCAL_BROWSER_KEY} to .dev.vars`,
    );
  }
  return keys;
}

/** Applies the D1 warehouse's migrations in `persist` (wrangler's local layout); exits on failure. */
export function migrateWarehouse(persist) {
  const migrate = spawnSync(
    wrangler,
    ["d1", "migrations", "apply", "edge-profiles", "--local", "--persist-to", persist],
    { cwd: root, stdio: "inherit", env: { ...process.env, CI: "1" } },
  );
  if (migrate.status !== 0) process.exit(migrate.status ?? 1);
}

export async function waitForHealth(base, attempts = 600) {
  for (let i = 0; i < attempts; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) return true;
    } catch {}
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

export async function loadDemoCatalog(base, apiKey) {
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

export function banner(what, base, keys) {
  console.log(
    `\nedge-profiles (${what}) is running at ${base}\n  server write key:  ${keys.writeKey}\n  browser write key: ${keys.browserKey || "(none)"}\n  API key:           ${keys.apiKey}\n  metrics key:       ${keys.metricsKey || "(none: add METRICS_KEYS to .dev.vars for GET /metrics)"}\n`,
  );
}
