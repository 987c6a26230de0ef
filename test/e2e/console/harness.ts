/**
 * What every console page's browser test shares: a signed-in tab that
 * records page errors and console errors, an accessibility scan with
 * axe-core (serious and critical violations fail), and a screenshot of the
 * page into docs/screenshots/ (the README shows them).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { E2E_KEYS } from "../../../scripts/local-server.mjs";

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
export const SCREENSHOTS = join(import.meta.dirname, "..", "..", "..", "docs", "screenshots");

export interface ConsoleTab {
  context: BrowserContext;
  page: Page;
  /** Page errors and console errors seen so far: a test expects none. */
  problems: string[];
}

/** A new tab, signed in with the API key typed into the password field, on the Overview. */
export async function signedInTab(browser: Browser, url: string, viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console error: ${m.text()}`);
  });
  await page.goto(`${url}/`);
  await page.fill("#api-key", E2E_KEYS.apiKey);
  await page.press("#api-key", "Enter");
  await page.waitForSelector("#page h1:has-text('Overview')");
  return { context, page, problems } satisfies ConsoleTab;
}

/** Follows a navigation link from the keyboard and waits for the page's heading. */
export async function openPage(page: Page, hash: string, heading: string) {
  await page.focus(`#nav a[href='#/${hash}']`);
  await page.keyboard.press("Enter");
  await page.waitForSelector(`#page h1:has-text('${heading}')`);
}

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/**
 * axe-core's WCAG 2.1 A/AA rules over the page as it is: the serious and
 * critical violations, as "rule: help (first targets)" lines. Run through
 * the DevTools protocol, so the page's CSP (which forbids inline script)
 * stays as it is.
 */
export async function seriousViolations(page: Page): Promise<string[]> {
  await page.evaluate(AXE_SOURCE);
  const violations = (await page.evaluate(
    `axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) })))`,
  )) as AxeViolation[];
  return violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map(
      (v) =>
        `${v.id}: ${v.help} (${v.nodes
          .slice(0, 3)
          .map((n) => n.target.join(" "))
          .join(", ")})`,
    );
}

/** A full-page screenshot into docs/screenshots/<name>.png. */
export async function screenshot(page: Page, name: string) {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}
