#!/usr/bin/env node
/**
 * `npm run quality`: runs the quality checks against the local state now and
 * prints them. It uses the service already answering at EDGE_PROFILES_URL
 * (default http://127.0.0.1:$PORT, 8787) with the API key of `.dev.vars`;
 * when none answers, it starts `npm start`'s runtime on the checkout's state
 * (`.wrangler/state`, where `npm run dev` and `npm start` keep it) for the
 * run and stops it after. Exits 1 when a check fails, 0 otherwise (warnings
 * are printed, not fatal), so it can gate a script.
 */
import { join } from "node:path";
import { E2E_KEYS, startProductionServer } from "./local-server.mjs";
import { keysOf, readDevVars, root } from "./local-setup.mjs";

const base = (process.env.EDGE_PROFILES_URL ?? `http://127.0.0.1:${process.env.PORT ?? 8787}`).replace(/\/+$/, "");

async function answers(url) {
  try {
    return (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) })).ok;
  } catch {
    return false;
  }
}

let server = null;
let url = base;
let apiKey = process.env.API_KEY ?? "";
if (await answers(base)) {
  apiKey ||= keysOf(readDevVars()).apiKey;
} else {
  console.log(`nothing answers at ${base}: starting the production runtime on .wrangler/state for this run`);
  server = await startProductionServer({ persistDir: join(root, ".wrangler", "state") });
  url = server.url;
  apiKey = E2E_KEYS.apiKey;
}

const mark = { pass: "PASS", warn: "WARN", fail: "FAIL" };
let exitCode = 0;
try {
  const auth = { authorization: `Bearer ${apiKey}` };
  const started = await fetch(`${url}/v1/quality/runs`, { method: "POST", headers: auth });
  if (started.status !== 202) throw new Error(`POST /v1/quality/runs → ${started.status}: ${await started.text()}`);
  const { id } = await started.json();
  let run;
  const deadline = Date.now() + 15 * 60_000;
  do {
    await new Promise((r) => setTimeout(r, 500));
    run = await (await fetch(`${url}/v1/quality/runs/${id}`, { headers: auth })).json();
  } while (run.finishedAt === null && Date.now() < deadline);
  if (run.finishedAt === null) throw new Error(`quality run ${id} did not finish within 15 minutes`);
  console.log(`quality run ${run.id} (${run.startedAt} → ${run.finishedAt}): ${run.status.toUpperCase()}\n`);
  for (const c of run.checks) {
    console.log(`${mark[c.status] ?? c.status}  ${c.check.padEnd(30)} ${c.detail}`);
    if (c.status !== "pass" && c.sample.length > 0)
      console.log(`      sample: ${JSON.stringify(c.sample.slice(0, 3))}`);
  }
  if (run.status === "fail" || run.status === "error") exitCode = 1;
} catch (err) {
  console.error(String(err));
  exitCode = 1;
} finally {
  await server?.stop();
}
process.exit(exitCode);
