// Issue 13: the quiz platform embeds the admin page in a frame and hands it the token by
// postMessage. The page asks its parent for a token (and again when one expired); a page of an
// origin not in ADMIN_EMBED_ORIGINS may not frame it at all (frame-ancestors), and does not hear
// the amoCRM popup's result either.
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

/** A page that opens the gateway's OAuth result page in a popup (as the connect button does) and records what it posts back. */
const OPENER_HTML = `<!doctype html><html><body>
<button id="open">Connect amoCRM</button>
<script>
  window.received = [];
  window.addEventListener('message', (event) => {
    if (event.data?.type === 'amocrm:connect') window.received.push({ origin: event.origin, ok: event.data.ok, message: event.data.message });
  });
</script>
</body></html>`;

interface Received {
  origin: string;
  ok: boolean;
  message: string;
}

/** Opens the result page of a forged state (its outcome is a refusal, posted like any other) from `url`. */
async function openResultPopup(url: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(url);
  await page.evaluate((href) => document.getElementById('open')!.addEventListener('click', () => window.open(href, '_blank', 'popup')), `${app.url}/webhook/create?state=forged`);
  const popupOpened = page.waitForEvent('popup');
  await page.locator('#open').click();
  // its script posts while the page is parsed, before load
  await (await popupOpened).waitForLoadState('load');
  return page;
}

const received = (page: Page) => page.evaluate(() => (window as unknown as { received: Received[] }).received);

test("the amoCRM popup's result reaches an opener of the gateway's origin or a listed one, never another", { skip, timeout: 60_000 }, async () => {
  foreign.pages.set('/opener.html', OPENER_HTML);
  listed.pages.set('/opener.html', OPENER_HTML);
  await context.route(`${app.url}/opener.html`, (route) => route.fulfill({ contentType: 'text/html; charset=utf-8', body: OPENER_HTML }));
  const stranger = await openResultPopup(`${foreign.origin}/opener.html`);
  const own = await openResultPopup(`${app.url}/opener.html`);
  const platform = await openResultPopup(`${listed.origin}/opener.html`);

  const appOrigin = new URL(app.url).origin;
  for (const [page, origin] of [
    [own, appOrigin],
    [platform, appOrigin],
  ] as const) {
    const [message] = await until('the result to be posted', async () => ((await received(page)).length ? received(page) : null), 10_000);
    assert.equal(message?.origin, origin);
    assert.equal(message?.ok, false);
    assert.match(message?.message ?? '', /invalid, expired or was already used/);
  }
  // posted before the other two were, so it would have arrived by now
  assert.deepEqual(await received(stranger), [], 'a page of another origin heard the result');
  // once each, though the gateway's origin is both the result page's own and PUBLIC_URL's
  assert.equal((await received(own)).length, 1);
  assert.equal((await received(platform)).length, 1);
  await context.unroute(`${app.url}/opener.html`);
  await Promise.all([stranger.close(), own.close(), platform.close()]);
});
