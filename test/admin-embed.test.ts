// Issue 13: the quiz platform embeds the admin page in a frame and hands it the token by
// postMessage. The page asks its parent for a token (and again when one expired); a page of an
// origin not in ADMIN_EMBED_ORIGINS may not frame it at all (frame-ancestors).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Frame, Page } from 'playwright-core';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApp, tokenFor, type TestApp } from './helpers/app.ts';
import { freePort } from './helpers/stack.ts';
import { until } from './helpers/wait.ts';
import { browserSkipReason, launchBrowser, newContext, pageErrors, screenshot } from './helpers/browser.ts';

const skip = browserSkipReason();
let testDb: TestDatabase;
let app: TestApp;
let browser: Browser;
let context: BrowserContext;
/** The quiz platform's origin, listed in ADMIN_EMBED_ORIGINS, and one that is not. */
let listed: OriginServer;
let foreign: OriginServer;

/**
 * Pages on a port of their own: another origin than the gateway's. A real server, as Chromium's
 * local-network checks refuse a loopback frame inside a page that came from nowhere (a routed response).
 */
interface OriginServer {
  origin: string;
  /** path → the HTML served there */
  pages: Map<string, string>;
  server: Server;
}

async function originServer(): Promise<OriginServer> {
  const pages = new Map<string, string>();
  const server = createServer((req, res) => {
    const html = pages.get(new URL(req.url ?? '/', 'http://x').pathname);
    // the browser's favicon request: nothing, and no 404 in the page's console
    if (html === undefined) res.writeHead(req.url === '/favicon.ico' ? 204 : 404).end();
    else res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, pages, server };
}

before(async () => {
  if (skip) return;
  testDb = await createTestDatabase();
  [listed, foreign] = await Promise.all([originServer(), originServer()]);
  app = await startOnOwnPort();
  browser = await launchBrowser();
  context = await newContext(browser);
  context.setDefaultTimeout(15_000);
});
after(async () => {
  await browser?.close();
  await app?.stop();
  await testDb?.drop();
  listed?.server.close();
  foreign?.server.close();
});

/**
 * A gateway whose PUBLIC_URL is its own address, as in a deployment: the port is chosen first (and
 * again when another process took it in between).
 */
async function startOnOwnPort(): Promise<TestApp> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return await startTestApp(testDb, { port, config: { PUBLIC_URL: `http://127.0.0.1:${port}`, ADMIN_EMBED_ORIGINS: listed.origin } });
    } catch (err) {
      if ((err as NodeJS.ErrnoException)?.code !== 'EADDRINUSE' || attempt >= 3) throw err;
    }
  }
}

/**
 * The quiz platform's page: frames /admin/ of `adminOrigin`, records every token request of the
 * frame, and answers each with the next of `tokens`.
 */
function embedderHtml(adminOrigin: string, tokens: string[]): string {
  return `<!doctype html><html><body>
<h1>Quiz platform</h1>
<iframe id="admin" src="${adminOrigin}/admin/" style="width: 1000px; height: 700px"></iframe>
<script>
  const tokens = ${JSON.stringify(tokens)};
  window.requests = [];
  window.addEventListener('message', (event) => {
    if (event.data?.type !== 'quiz-admin:token-needed') return;
    window.requests.push(event.data.reason);
    const token = tokens.shift();
    if (token) document.getElementById('admin').contentWindow.postMessage({ type: 'quiz-admin:token', token }, '${adminOrigin}');
  });
</script>
</body></html>`;
}

async function embedder(page: Page, url: string, adminOrigin: string, tokens: string[]): Promise<Frame> {
  await page.route(url, (route) => route.fulfill({ contentType: 'text/html; charset=utf-8', body: embedderHtml(adminOrigin, tokens) }));
  return framed(page, url);
}

async function framed(page: Page, url: string): Promise<Frame> {
  await page.goto(url);
  const handle = await page.locator('#admin').elementHandle();
  const frame = await handle!.contentFrame();
  assert.ok(frame, 'the admin frame');
  return frame;
}

test('embedded by the quiz platform: the token arrives by postMessage, and is asked for again when it expired', { skip, timeout: 60_000 }, async () => {
  const page = await context.newPage();
  const errors = pageErrors(page, [/status of 401/]);
  const expired = await tokenFor('embed-owner', { expiresIn: Math.floor(Date.now() / 1000) - 60 });
  const valid = await tokenFor('embed-owner');
  const frame = await embedder(page, `${app.url}/quiz-platform.html`, app.url, [expired, valid]);

  await frame.getByText('No amoCRM account is connected').waitFor();
  assert.match((await frame.getByText(/Quiz account/).textContent()) ?? '', /embed-owner/);
  // first no token at all, then the handed one was refused as expired
  assert.deepEqual(await page.evaluate(() => (window as unknown as { requests: string[] }).requests), ['missing', 'expired']);
  await screenshot(page, '20-embedded');
  assert.deepEqual(errors, []);
  await page.close();
});

test('a page of a listed origin (ADMIN_EMBED_ORIGINS) frames the admin page and hands it the token', { skip, timeout: 60_000 }, async () => {
  const page = await context.newPage();
  const errors = pageErrors(page);
  listed.pages.set('/platform.html', embedderHtml(app.url, [await tokenFor('embed-listed')]));
  const frame = await framed(page, `${listed.origin}/platform.html`);

  await frame.getByText('No amoCRM account is connected').waitFor();
  assert.match((await frame.getByText(/Quiz account/).textContent()) ?? '', /embed-listed/);
  assert.deepEqual(await page.evaluate(() => (window as unknown as { requests: string[] }).requests), ['missing']);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a page of an origin not listed can neither frame the admin page nor hand it a token', { skip, timeout: 60_000 }, async () => {
  const page = await context.newPage();
  foreign.pages.set('/evil.html', embedderHtml(app.url, [await tokenFor('embed-owner')]));
  await page.goto(`${foreign.origin}/evil.html`);
  const frame = (await (await page.locator('#admin').elementHandle())!.contentFrame())!;
  // frame-ancestors 'self' and the listed origin: Chromium shows its error page in the frame instead of the admin page
  await until('the frame to settle', async () => frame.url() !== 'about:blank', 10_000);
  assert.match(frame.url(), /^chrome-error:/);
  assert.equal(await frame.locator('#root').count(), 0, 'the admin page did not load in a foreign frame');
  assert.deepEqual(await page.evaluate(() => (window as unknown as { requests: string[] }).requests), []);
  await page.close();
});
