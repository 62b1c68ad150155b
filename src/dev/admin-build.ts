// Development: `npm start` builds the admin page (web/ → web/dist) when there is no build yet, so
// the address it prints works on a fresh clone. A build already there is served as it is.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ADMIN_DIST_DIR } from '../platform/http/admin-page.ts';
import type { Logger } from '../platform/logger.ts';

const root = path.resolve(import.meta.dirname, '../..');

/** true when web/dist has the page (built now or before); a failed build is logged, not fatal. */
export function ensureAdminPageBuilt(logger: Logger): boolean {
  if (existsSync(path.join(ADMIN_DIST_DIR, 'index.html'))) return true;
  logger.warn('web/dist is missing: building the admin page (npm run build -w @quiz-gateway/web)');
  const build = spawnSync('npm', ['run', '--silent', 'build', '-w', '@quiz-gateway/web'], {
    cwd: root,
    env: { ...process.env, NODE_ENV: 'production' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (build.status === 0) return true;
  logger.error({ status: build.status, error: build.error?.message }, 'the admin page did not build: /admin answers 503 until it does');
  return false;
}
