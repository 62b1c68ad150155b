// Issue 13: how the gateway serves the built admin page at /admin (src/platform/http/admin-page.ts):
// files with their content types and cache headers, index.html for the page's own routes, no way
// out of the build directory, and the wiring into the gateway's routes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ADMIN_DIST_DIR, createAdminPage } from '../src/platform/http/admin-page.ts';
import { routeLabel } from '../src/app.ts';
import { createTestDatabase } from './helpers/db.ts';
import { startTestApp } from './helpers/app.ts';
import { ensureWebBuilt } from './helpers/web-build.ts';

const INDEX = '<!doctype html>\n<html>\n  <head>\n    <title>admin</title>\n  </head>\n  <body><div id="root"></div></body>\n</html>\n';
const SCRIPT = 'console.log("admin");\n';

let root: string;
let server: Server;
let base: string;

/** A request with the path exactly as written (fetch would normalize `..` away before sending). */
function raw(pathname: string, options: { method?: string; headers?: Record<string, string>; port?: number } = {}) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: options.port ?? Number(new URL(base).port), path: pathname, method: options.method ?? 'GET', headers: options.headers },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

before(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'admin-page-'));
  const dist = path.join(root, 'dist');
  mkdirSync(path.join(dist, 'assets'), { recursive: true });
  writeFileSync(path.join(dist, 'index.html'), INDEX);
  writeFileSync(path.join(dist, 'assets', 'index-AbC123.js'), SCRIPT);
  writeFileSync(path.join(dist, 'assets', 'index-AbC123.css'), 'body{}');
  writeFileSync(path.join(root, 'secret.txt'), 'outside the build');
  const serve = createAdminPage({ distDir: dist, embedOrigins: ['https://quiz.example', 'javascript:alert(1)', 'https://bad.example" onload="x'] });
  const missing = createAdminPage({ distDir: path.join(root, 'not-built') });
  server = createServer((req, res) => {
    // as the gateway parses it (src/app.ts)
    const url = new URL(req.url ?? '/', 'http://gateway');
    const handler = url.searchParams.has('unbuilt') ? missing : serve;
    void handler(req, res, url).then((answered) => {
      if (!answered) res.writeHead(404).end('not ours');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server?.close();
  rmSync(root, { recursive: true, force: true });
});

test('/admin redirects to /admin/ keeping the query; the page is index.html with its headers', async () => {
  const redirect = await raw('/admin?quiz=q1');
  assert.equal(redirect.status, 308);
  assert.equal(redirect.headers.location, '/admin/?quiz=q1');

  const page = await raw('/admin/');
  assert.equal(page.status, 200);
  assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(page.headers['cache-control'], 'no-cache');
  assert.equal(page.headers['x-content-type-options'], 'nosniff');
  assert.match(page.body, /<div id="root">/);
  // only well-formed embedder origins reach the page and the frame-ancestors policy
  assert.match(page.body, /<meta name="quiz-admin-embed-origins" content="https:\/\/quiz\.example">\n {2}<\/head>/);
  const csp = String(page.headers['content-security-policy']);
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /frame-ancestors 'self' https:\/\/quiz\.example(;|$)/);
  assert.doesNotMatch(csp, /javascript|bad\.example/);
});

test("the page's own routes get index.html; unrelated paths are not answered", async () => {
  for (const route of ['/admin/rules?quiz=quiz-1', '/admin/deliveries', '/admin/connection/']) {
    const res = await raw(route);
    assert.equal(res.status, 200, route);
    assert.match(res.body, /<div id="root">/, route);
  }
  assert.equal((await raw('/administrator')).body, 'not ours');
  assert.equal((await raw('/graphql')).body, 'not ours');
});

test('assets: their content type, cached for good by their hashed name, 304 on a matching ETag, 404 when missing', async () => {
  const js = await raw('/admin/assets/index-AbC123.js');
  assert.equal(js.status, 200);
  assert.equal(js.body, SCRIPT);
  assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.equal(js.headers['content-length'], String(Buffer.byteLength(SCRIPT)));
  const etag = String(js.headers.etag);
  assert.match(etag, /^W\/"/);
  const again = await raw('/admin/assets/index-AbC123.js', { headers: { 'if-none-match': etag } });
  assert.equal(again.status, 304);
  assert.equal(again.body, '');

  assert.equal((await raw('/admin/assets/index-AbC123.css')).headers['content-type'], 'text/css; charset=utf-8');
  // a missing script is a 404, never the HTML page
  const missing = await raw('/admin/assets/gone-123.js');
  assert.equal(missing.status, 404);
  assert.doesNotMatch(missing.body, /<html/);
  assert.equal((await raw('/admin/favicon.ico')).status, 404);
});

test('nothing outside the build is served, however the path is written', async () => {
  for (const attempt of [
    '/admin/..%2fsecret.txt',
    '/admin/assets/..%2f..%2fsecret.txt',
    '/admin/%2e%2e%2fsecret.txt',
    '/admin/..%5csecret.txt',
    '/admin/%2Fetc%2Fpasswd',
    '/admin/index.html%00.js',
  ]) {
    const res = await raw(attempt);
    // without the check, the first ones would answer secret.txt (it exists one level above the build)
    assert.equal(res.status, 404, attempt);
    assert.doesNotMatch(res.body, /outside the build|root:/, attempt);
  }
  // `..` written plainly is resolved by the URL parser before it reaches the handler
  assert.equal((await raw('/admin/../secret.txt')).body, 'not ours');
  assert.equal((await raw('/admin/%E0%A4%A')).status, 400);
});

test('HEAD answers headers only; other methods are refused; an unbuilt page says how to build it', async () => {
  const head = await raw('/admin/', { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  assert.ok(Number(head.headers['content-length']) > INDEX.length);
  const post = await raw('/admin/', { method: 'POST' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, 'GET, HEAD');
  const unbuilt = await raw('/admin/?unbuilt=1');
  assert.equal(unbuilt.status, 503);
  assert.match(unbuilt.body, /npm run build -w @quiz-gateway\/web/);
});

test('the gateway serves the built page at /admin (npm test builds it first)', { timeout: 300_000 }, async (t) => {
  await ensureWebBuilt(); // run alone: built here
  assert.ok(existsSync(path.join(ADMIN_DIST_DIR, 'index.html')), 'web/dist is missing: run `npm run build -w @quiz-gateway/web`');
  const testDb = await createTestDatabase();
  const app = await startTestApp(testDb).catch(async (err: unknown) => {
    await testDb.drop();
    throw err;
  });
  t.after(async () => {
    await app.stop();
    await testDb.drop();
  });
  const port = Number(new URL(app.url).port);
  const page = await raw('/admin/rules', { port });
  assert.equal(page.status, 200);
  assert.match(page.body, /<script type="module" crossorigin src="\/admin\/assets\/index-[\w-]+\.js">/);
  const script = /src="(\/admin\/assets\/[^"]+\.js)"/.exec(page.body)![1]!;
  const asset = await raw(script, { port });
  assert.equal(asset.status, 200);
  assert.equal(asset.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal((await raw('/admin/assets/nope.js', { port })).status, 404);

  // the page's files and routes are one metric series, whatever the path
  assert.equal(routeLabel('/admin', 308), '/admin');
  assert.equal(routeLabel('/admin/assets/nope.js', 404), '/admin');
  assert.equal(routeLabel('/administrator', 404), 'unmatched');
  const metrics = await (await fetch(`${app.url}/metrics`)).text();
  assert.match(metrics, /gateway_http_request_duration_seconds_count\{route="\/admin",method="GET",status="200"\} [1-9]/);
  assert.match(metrics, /gateway_http_request_duration_seconds_count\{route="\/admin",method="GET",status="404"\} 1\b/);
  assert.doesNotMatch(metrics, /route="\/admin\//);
});
