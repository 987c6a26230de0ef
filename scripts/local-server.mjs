/**
 * Starts the service with `wrangler dev` on a free 127.0.0.1 port with its own
 * on-disk state directory and keys, for the end-to-end tests and the
 * benchmark. The D1 warehouse is migrated first; `stop()` ends wrangler and
 * workerd (the whole process group it started, by PID).
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const wrangler = join(root, "node_modules", ".bin", "wrangler");

export const E2E_KEYS = {
  writeKey: "e2e-write-key",
  browserKey: "e2e-browser-key",
  identitySecret: "e2e-identity-secret",
  apiKey: "e2e-api-key",
  linkSecret: "e2e-link-secret",
  metricsKey: "e2e-metrics-key",
};

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Stops a server started detached in its own process group: SIGTERM, then
 * SIGKILL after five seconds; removes its state directory when it made one.
 */
function stopperOf(child, persistDir, ownsDir) {
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) {
      if (ownsDir) rmSync(persistDir, { recursive: true, force: true });
      return;
    }
    const exited = new Promise((r) => child.once("exit", r));
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {}
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
    }, 5_000);
    await exited;
    clearTimeout(timer);
    if (ownsDir) rmSync(persistDir, { recursive: true, force: true });
  };
}

/** Polls `/healthz` for up to a minute; throws with the server's output when it exits or never answers. */
async function untilHealthy(child, url, stop, what, output) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}:\n${output()}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  await stop();
  throw new Error(`${what} did not answer /healthz within 60 s:\n${output()}`);
}

/** The keys every local test server runs with. */
function e2eVars(extra) {
  return {
    WRITE_KEYS: E2E_KEYS.writeKey,
    BROWSER_WRITE_KEYS: E2E_KEYS.browserKey,
    IDENTITY_VERIFICATION_SECRET: E2E_KEYS.identitySecret,
    API_KEYS: E2E_KEYS.apiKey,
    LINK_SIGNING_SECRET: E2E_KEYS.linkSecret,
    METRICS_KEYS: E2E_KEYS.metricsKey,
    ...extra,
  };
}

/**
 * Starts `npm start`'s production runtime (`scripts/start.mjs`: the deploy
 * bundle in workerd through Miniflare, no dev proxy) on a free port with its
 * own state directory, the keys passed in the environment.
 * @param {{ port?: number, persistDir?: string, vars?: Record<string, string>, log?: (line: string) => void }} [options]
 * @returns {Promise<{ url: string, port: number, persistDir: string, pid: number, stop: () => Promise<void> }>}
 */
export async function startProductionServer(options = {}) {
  const port = options.port ?? (await freePort());
  const ownsDir = !options.persistDir;
  const persistDir = options.persistDir ?? mkdtempSync(join(tmpdir(), "edge-profiles-start-"));
  const child = spawn(process.execPath, [join(root, "scripts", "start.mjs")], {
    cwd: root,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...e2eVars(options.vars), PORT: String(port), PERSIST_DIR: persistDir, CI: "1" },
  });
  let output = "";
  const collect = (chunk) => {
    output = (output + chunk.toString()).slice(-20_000);
    options.log?.(chunk.toString());
  };
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  const url = `http://127.0.0.1:${port}`;
  const stop = stopperOf(child, persistDir, ownsDir);
  await untilHealthy(child, url, stop, "npm start", () => output);
  // Ready once it has loaded the demo catalog and printed its banner, as a user would wait.
  const deadline = Date.now() + 120_000;
  while (!output.includes("is running at") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  return { url, port, persistDir, pid: child.pid, stop };
}

/**
 * @param {{ port?: number, persistDir?: string, vars?: Record<string, string>, args?: string[], log?: (line: string) => void }} [options]
 * @returns {Promise<{ url: string, port: number, persistDir: string, pid: number, stop: () => Promise<void> }>}
 */
export async function startLocalServer(options = {}) {
  const port = options.port ?? (await freePort());
  const ownsDir = !options.persistDir;
  const persistDir = options.persistDir ?? mkdtempSync(join(tmpdir(), "edge-profiles-"));
  const vars = e2eVars(options.vars);
  const migrated = spawnSync(
    wrangler,
    ["d1", "migrations", "apply", "edge-profiles", "--local", "--persist-to", persistDir],
    {
      cwd: root,
      encoding: "utf8",
      env: { ...process.env, CI: "1" },
    },
  );
  if (migrated.status !== 0) throw new Error(`d1 migrations failed: ${migrated.stderr || migrated.stdout}`);

  const args = ["dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", persistDir];
  args.push("--show-interactive-dev-session=false", "--inspector-port", String(await freePort()));
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
  args.push(...(options.args ?? []));
  const child = spawn(wrangler, args, {
    cwd: root,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { CLOUDFLARE_CF_FETCH_ENABLED: "false", ...process.env, CI: "1", WRANGLER_SEND_METRICS: "false" },
  });
  let output = "";
  const collect = (chunk) => {
    output = (output + chunk.toString()).slice(-20_000);
    options.log?.(chunk.toString());
  };
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);

  const url = `http://127.0.0.1:${port}`;
  const stop = stopperOf(child, persistDir, ownsDir);
  await untilHealthy(child, url, stop, "wrangler dev", () => output);
  return { url, port, persistDir, pid: child.pid, stop };
}
