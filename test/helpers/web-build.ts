// The admin page's build (web/dist) that the gateway serves at /admin. `npm test` builds it before
// any test; a test file run alone builds it here when it is missing, as npm test would.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { ADMIN_DIST_DIR } from '../../src/platform/http/admin-page.ts';

const root = path.resolve(import.meta.dirname, '../..');

export async function ensureWebBuilt(): Promise<void> {
  if (existsSync(path.join(ADMIN_DIST_DIR, 'index.html'))) return;
  // NODE_ENV=test (the tests') would make Vite bundle React's development build
  await promisify(execFile)('npm', ['run', '--silent', 'build', '-w', '@quiz-gateway/web'], {
    cwd: root,
    env: { ...process.env, NODE_ENV: 'production' },
    maxBuffer: 16 * 1024 * 1024,
  });
}
