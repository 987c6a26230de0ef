#!/usr/bin/env node
/**
 * The end-to-end suite drives Debian's Chromium through playwright-core (which
 * brings no browser of its own) and has Debian's Prometheus scrape the
 * service. Before the suite this checks for both (or $CHROMIUM_PATH /
 * $PROMETHEUS_PATH) and, on a Debian machine where it runs as root, installs
 * the missing packages; otherwise it says what to do.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const tools = [
  { name: "chromium", path: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", override: "CHROMIUM_PATH" },
  { name: "prometheus", path: process.env.PROMETHEUS_PATH ?? "/usr/bin/prometheus", override: "PROMETHEUS_PATH" },
];

const missing = tools.filter((t) => !existsSync(t.path));
if (missing.length > 0) {
  const canInstall =
    process.getuid?.() === 0 && existsSync("/usr/bin/apt-get") && missing.every((t) => !process.env[t.override]);
  if (!canInstall) {
    for (const t of missing) {
      console.error(
        `${t.path} not found: install Debian's ${t.name} package (apt-get install ${t.name}) or set ${t.override}`,
      );
    }
    process.exit(1);
  }
  const names = missing.map((t) => t.name);
  console.log(
    `installing Debian's ${names.join(" and ")} for the end-to-end tests (apt-get install ${names.join(" ")})`,
  );
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [
    ["update", "-qq"],
    ["install", "-y", "-qq", ...names],
  ]) {
    const run = spawnSync("apt-get", args, { stdio: ["ignore", "ignore", "inherit"], env });
    if (run.status !== 0) process.exit(run.status ?? 1);
  }
}
