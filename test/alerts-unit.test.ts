// Alerts without a database: signatures, the URL policy, and the sender's retries under fake timers.
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import {
  alertBackoff,
  alertUrlProblem,
  assertPublicDestination,
  isPrivateAddress,
  signAlert,
  startAlertSender,
  verifyAlertSignature,
  type AlertStore,
  type ClaimedAlert,
} from '../src/features/alerts/index.ts';
import { createLogger } from '../src/platform/logger.ts';

const logger = createLogger({ level: 'silent' });

describe('alert signatures', () => {
  it('verify over the raw body and the timestamp, and nothing else', () => {
    const body = '{"id":"1","kind":"delivery.failed"}';
    const now = 1_800_000_000;
    const header = signAlert('s3cret-s3cret-s3cret', body, now);
    assert.match(header, /^t=1800000000,v1=[0-9a-f]{64}$/);
    assert.equal(verifyAlertSignature('s3cret-s3cret-s3cret', body, header, { now }), true);
    assert.equal(verifyAlertSignature('another-secret-xxxx', body, header, { now }), false);
    assert.equal(verifyAlertSignature('s3cret-s3cret-s3cret', body + ' ', header, { now }), false);
    // a replay ten minutes later is refused (tolerance 5 min)
    assert.equal(verifyAlertSignature('s3cret-s3cret-s3cret', body, header, { now: now + 600 }), false);
    assert.equal(verifyAlertSignature('s3cret-s3cret-s3cret', body, 'garbage', { now }), false);
  });
});

describe('alert webhook URLs', () => {
  it('production: https to a public host only', () => {
    assert.equal(alertUrlProblem('https://hooks.example.com/alerts', true), null);
    assert.equal(alertUrlProblem('http://hooks.example.com/alerts', true), 'must be https');
    for (const url of [
      'https://127.0.0.1/x',
      'https://10.1.2.3/',
      'https://192.168.0.7/',
      'https://169.254.169.254/latest',
      'https://[::1]/',
      'https://[::ffff:127.0.0.1]/',
      'https://[fd00::1]/',
    ])
      assert.match(alertUrlProblem(url, true) ?? '', /loopback|private/, url);
    for (const url of ['https://localhost/', 'https://db.internal/', 'https://intranet/']) assert.match(alertUrlProblem(url, true) ?? '', /public host/, url);
    assert.equal(alertUrlProblem('https://user:pw@hooks.example.com/', true), 'must not carry credentials');
    assert.equal(alertUrlProblem('ftp://hooks.example.com/', true), 'must be an http(s) URL');
    assert.equal(alertUrlProblem('not a url', true), 'not a valid URL');
  });
  it('development and tests: a local http receiver is fine', () => {
    assert.equal(alertUrlProblem('http://127.0.0.1:9999/hook', false), null);
  });
  it('private ranges', () => {
    for (const ip of ['127.0.0.1', '10.0.0.1', '172.16.5.4', '192.168.1.1', '100.64.0.1', '0.0.0.0', '::1', 'fe80::1', '::ffff:10.0.0.1'])
      assert.equal(isPrivateAddress(ip), true, ip);
    for (const ip of ['8.8.8.8', '172.32.0.1', '2606:4700::1111']) assert.equal(isPrivateAddress(ip), false, ip);
  });
  it('production: a public name that resolves to a private address is refused at post time', async () => {
    await assert.rejects(
      assertPublicDestination('https://hooks.example.com/', true, async () => [{ address: '10.0.0.5' }]),
      /private/,
    );
    await assert.rejects(
      assertPublicDestination('https://hooks.example.com/', true, async () => [{ address: '93.184.216.34' }, { address: '::1' }]),
      /private/,
    );
    await assertPublicDestination('https://hooks.example.com/', true, async () => [{ address: '93.184.216.34' }]);
  });
});

/** An in-memory outbox on the (fake) clock. */
function memoryStore(rows: (ClaimedAlert & { status: string; nextAt: number; lockedUntil: number; log: string[] })[]): AlertStore {
  const find = (id: string) => rows.find((r) => r.id === id)!;
  return {
    async claim(limit, leaseMs) {
      const now = Date.now();
      const due = rows.filter((r) => r.status === 'PENDING' && r.nextAt <= now && r.lockedUntil <= now).slice(0, limit);
      for (const r of due) {
        r.attempts += 1;
        r.lockedUntil = now + leaseMs;
      }
      return due.map((r) => ({ ...r }));
    },
    async delivered(id, info) {
      Object.assign(find(id), { status: 'DELIVERED', lockedUntil: 0 }).log.push(`delivered ${info.statusCode}`);
    },
    async retryLater(id, delayMs, info) {
      Object.assign(find(id), { nextAt: Date.now() + delayMs, lockedUntil: 0 }).log.push(`retry in ${delayMs} after ${info.statusCode}`);
    },
    async giveUp(id, info) {
      Object.assign(find(id), { status: 'FAILED', lockedUntil: 0 }).log.push(`failed ${info.error}`);
    },
  };
}

const flush = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

describe('the alert sender', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_800_000_000_000 }));
  afterEach(() => mock.timers.reset());

  const row = (id: string) => ({
    id,
    quizAccountId: 'tenant-a',
    kind: 'delivery.failed',
    payload: { deliveryId: '0b5c2a3e-0000-4000-8000-000000000001' },
    attempts: 0,
    createdAt: new Date(),
    webhook: { url: 'http://127.0.0.1:1/hook', secret: 'secret-secret-secret' },
    status: 'PENDING',
    nextAt: 0,
    lockedUntil: 0,
    log: [] as string[],
  });

  it('retries a 500 after its backoff, not before, and stops at the first 2xx', async () => {
    const rows = [row('a1')];
    const answers = [500, 500, 204];
    const posts: { at: number; body: string; headers: Record<string, string> }[] = [];
    const sender = startAlertSender({
      store: memoryStore(rows),
      post: async (_url, body, headers) => {
        posts.push({ at: Date.now(), body, headers });
        return { status: answers.shift()! };
      },
      maxAttempts: 5,
      backoffMs: 10_000,
      pollMs: 1_000,
      logger,
    });
    try {
      mock.timers.tick(1_000);
      await flush();
      assert.equal(posts.length, 1);
      assert.deepEqual(rows[0]!.log, ['retry in 10000 after 500']);
      const first = posts[0]!;
      assert.equal(verifyAlertSignature('secret-secret-secret', first.body, first.headers['x-gateway-signature']!, { now: Math.floor(Date.now() / 1000) }), true);
      assert.equal(first.headers['x-gateway-alert-id'], 'a1');
      assert.equal(JSON.parse(first.body).data.deliveryId, Buffer.from('Delivery:0b5c2a3e-0000-4000-8000-000000000001').toString('base64'));

      // 9 s later: not yet due, the polls post nothing
      for (let i = 0; i < 9; i++) {
        mock.timers.tick(1_000);
        await flush();
      }
      assert.equal(posts.length, 1);
      mock.timers.tick(1_000);
      await flush();
      assert.equal(posts.length, 2);
      assert.equal(posts[1]!.at - posts[0]!.at, 10_000);
      assert.deepEqual(rows[0]!.log, ['retry in 10000 after 500', 'retry in 20000 after 500']);

      for (let i = 0; i < 20; i++) {
        mock.timers.tick(1_000);
        await flush();
      }
      assert.equal(posts.length, 3);
      assert.equal(rows[0]!.status, 'DELIVERED');
      for (let i = 0; i < 60; i++) {
        mock.timers.tick(1_000);
        await flush();
      }
      assert.equal(posts.length, 3, 'a delivered alert is never posted again');
    } finally {
      await sender.stop();
    }
  });

  it('gives up after maxAttempts, and at once when the webhook was removed', async () => {
    const rows = [row('b1'), { ...row('b2'), webhook: undefined }];
    let posts = 0;
    const sender = startAlertSender({
      store: memoryStore(rows),
      post: async () => (posts++, { status: 503 }),
      maxAttempts: 3,
      backoffMs: 1_000,
      pollMs: 500,
      logger,
    });
    try {
      for (let i = 0; i < 20 && rows[0]!.status === 'PENDING'; i++) {
        mock.timers.tick(500);
        await flush();
      }
      assert.equal(rows[0]!.status, 'FAILED');
      assert.equal(posts, 3);
      assert.deepEqual(rows[1]!.log, ['failed no alert webhook is set']);
    } finally {
      await sender.stop();
    }
  });

  it('backoff doubles up to its cap', () => {
    assert.deepEqual(
      [1, 2, 3, 4].map((n) => alertBackoff(n, 10_000)),
      [10_000, 20_000, 40_000, 80_000],
    );
    assert.equal(alertBackoff(30, 10_000), 3_600_000);
  });
});

describe('the alert POST', () => {
  it('production: a name resolving to a loopback address is refused by the connection itself; otherwise posted', async () => {
    const { createServer } = await import('node:http');
    const { createAlertPost } = await import('../src/features/alerts/index.ts');
    let hits = 0;
    const server = createServer((req, res) => {
      hits++;
      req.resume();
      res.writeHead(202).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const signal = AbortSignal.timeout(5_000);
      await assert.rejects(createAlertPost(true)(`http://localhost:${port}/hook`, '{}', {}, signal), /loopback, private or link-local/);
      assert.equal(hits, 0);
      assert.deepEqual(await createAlertPost(false)(`http://localhost:${port}/hook`, '{}', {}, signal), { status: 202 });
      assert.equal(hits, 1);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
