#!/usr/bin/env node
/**
 * The browser test drives Debian's Chromium through playwright-core, which
 * brings no browser of its own. Before the end-to-end suite this checks for
 * /usr/bin/chromium (or $CHROMIUM_PATH) and, on a Debian machine where it runs
 * as root, installs the `chromium` package; otherwise it says what to do.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const path = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
if (!existsSync(path)) {
  const canInstall = process.getuid?.() === 0 && existsSync("/usr/bin/apt-get") && !process.env.CHROMIUM_PATH;
  if (!canInstall) {
    console.error(
      `${path} not found: install Debian's chromium package (apt-get install chromium) or set CHROMIUM_PATH`,
    );
    process.exit(1);
  }
  console.log("installing Debian's chromium for the browser test (apt-get install chromium)");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [
    ["update", "-qq"],
    ["install", "-y", "-qq", "chromium"],
  ]) {
    const run = spawnSync("apt-get", args, { stdio: ["ignore", "ignore", "inherit"], env });
    if (run.status !== 0) process.exit(run.status ?? 1);
  }
}
