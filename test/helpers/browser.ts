// Debian's Chromium driven by playwright-core (never a downloaded browser), for the admin
// page's end-to-end tests. Screenshots go to test-artifacts/ (git-ignored).
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS_DIR = path.resolve(import.meta.dirname, '../../test-artifacts/admin');
export const DOCS_SCREENSHOTS_DIR = path.resolve(import.meta.dirname, '../../docs/screenshots');

/**
 * Why the browser tests cannot run here, or undefined when they can. Only a developer's machine
 * without Chromium skips; in CI (.ci/run installs it) a missing browser fails the run instead.
 */
export function browserSkipReason(): string | undefined {
  if (existsSync(CHROMIUM_PATH)) return undefined;
  if (process.env.CI) return undefined;
  return `${CHROMIUM_PATH} is missing: install Debian's chromium (apt-get install chromium) to run the admin page's browser tests`;
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    // Chromium's sandbox refuses to run as root (CI containers)
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
}

/** A fresh context (own storage) at desktop size, English unless told otherwise. */
export async function newContext(browser: Browser, options: { locale?: string; width?: number; height?: number } = {}): Promise<BrowserContext> {
  return browser.newContext({ locale: options.locale ?? 'en-US', viewport: { width: options.width ?? 1280, height: options.height ?? 900 } });
}

/** Everything the page logged as an error or threw: a test asserts this stays empty. */
export function pageErrors(page: Page, ignore: RegExp[] = []): string[] {
  const errors: string[] = [];
  const keep = (text: string) => {
    if (!ignore.some((re) => re.test(text))) errors.push(text);
  };
  page.on('pageerror', (err) => keep(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') keep(`console: ${msg.text()}`);
  });
  return errors;
}

/**
 * A full-page screenshot into test-artifacts/admin/<name>.png; with UPDATE_SCREENSHOTS=1 also into
 * docs/screenshots/<docs>.png (the README's, checked in: an ordinary run leaves them alone).
 */
export async function screenshot(page: Page, name: string, options: { docs?: string } = {}): Promise<void> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS_DIR, `${name}.png`), fullPage: true });
  if (options.docs && process.env.UPDATE_SCREENSHOTS === '1') {
    mkdirSync(DOCS_SCREENSHOTS_DIR, { recursive: true });
    await page.screenshot({ path: path.join(DOCS_SCREENSHOTS_DIR, `${options.docs}.png`), fullPage: true });
  }
}

/** true when nothing on the page is wider than the viewport (no sideways scrolling on a phone). */
export async function fitsWidth(page: Page): Promise<{ ok: boolean; scrollWidth: number; width: number }> {
  return page.evaluate(() => ({ ok: document.documentElement.scrollWidth <= window.innerWidth, scrollWidth: document.documentElement.scrollWidth, width: window.innerWidth }));
}
