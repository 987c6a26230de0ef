#!/usr/bin/env node
/**
 * `npm run fuzz`: the property-based suites (test/runtime/fuzz) again and
 * again, FUZZ_ROUNDS times (default 10), each round with fresh random seeds
 * and a fresh runtime: ten rounds are ten times the ~2,450 cases `npm test`
 * runs. Rounds rather than one long run, because the test pool slows down
 * with every actor one runtime has constructed (workers-sdk#15446), so one
 * ten-times-longer run would take far more than ten times as long. Stops at
 * the first failing round; fast-check prints the seed that reproduces it.
 */
import { spawnSync } from "node:child_process";

const rounds = Math.max(1, Number(process.env.FUZZ_ROUNDS ?? "10"));
const started = Date.now();
for (let round = 1; round <= rounds; round += 1) {
  console.log(`fuzz round ${round} of ${rounds}`);
  const run = spawnSync("npx", ["vitest", "run", "--config", "vitest.fuzz.config.mts"], { stdio: "inherit" });
  if (run.status !== 0) {
    console.error(`fuzz round ${round} failed; the seed above reproduces it`);
    process.exit(run.status ?? 1);
  }
}
console.log(`${rounds} fuzz rounds passed in ${Math.round((Date.now() - started) / 1000)} s`);
