// Issue 13: the quiz platform embeds the admin page in a frame and hands it the token by
// postMessage. The page asks its parent for a token (and again when one expired); a page of
// another origin may not frame it at all (frame-ancestors).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Frame, Page } from 'playwright-core';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApp, tokenFor, type TestApp } from './helpers/app.ts';
import { until } from './helpers/wait.ts';
import { browserSkipReason, launchBrowser, newContext, pageErrors, screenshot } from './helpers/browser.ts';

const skip = browserSkipReason();
let testDb: TestDatabase;
let app: TestApp;
let browser: Browser;
let context: BrowserContext;

before(async () => {
  if (skip) return;
  testDb = await createTestDatabase();
  app = await startTestApp(testDb);
  browser = await launchBrowser();
  context = await newContext(browser);
  context.setDefaultTimeout(15_000);
});
after(async () => {
  await browser?.close();
  await app?.stop();
  await testDb?.drop();
});

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

test('a page of another origin can neither frame the admin page nor hand it a token', { skip, timeout: 60_000 }, async () => {
  const page = await context.newPage();
  const valid = await tokenFor('embed-owner');
  // another port is another origin; a real server, as Chromium's local-network checks refuse a
  // loopback frame inside a page that came from nowhere (a routed response)
  const foreign = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(embedderHtml(app.url, [valid])));
  await new Promise<void>((resolve) => foreign.listen(0, '127.0.0.1', resolve));
  after(() => foreign.close());
  await page.goto(`http://127.0.0.1:${(foreign.address() as AddressInfo).port}/evil.html`);
  const frame = (await (await page.locator('#admin').elementHandle())!.contentFrame())!;
  // frame-ancestors 'self': Chromium shows its error page in the frame instead of the admin page
  await until('the frame to settle', async () => frame.url() !== 'about:blank', 10_000);
  assert.match(frame.url(), /^chrome-error:/);
  assert.equal(await frame.locator('#root').count(), 0, 'the admin page did not load in a foreign frame');
  assert.deepEqual(await page.evaluate(() => (window as unknown as { requests: string[] }).requests), []);
  await page.close();
});
