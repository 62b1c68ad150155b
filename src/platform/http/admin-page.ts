// The quiz owner's admin page (web/, built into web/dist) at /admin: its files, and index.html
// for every other /admin path (the page's own routes: /admin/rules?quiz=… survives a reload).
import { createReadStream, type Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import type { Config } from '../config.ts';

export const ADMIN_PATH = '/admin';
export const ADMIN_DIST_DIR = path.resolve(import.meta.dirname, '../../../web/dist');

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

export interface AdminPageOptions {
  /** the built page (default web/dist) */
  distDir?: string;
  /**
   * Origins of quiz platform pages that may embed the admin page in a frame and hand it a
   * token by postMessage (the page's own origin always may).
   */
  embedOrigins?: string[];
}

/** Where the admin page runs: the gateway's PUBLIC_URL origin and the listed embedders (the OAuth popup's result is posted to these only). */
export function adminOrigins(config: Pick<Config, 'publicUrl' | 'adminEmbedOrigins'>): string[] {
  return [...new Set([new URL(config.publicUrl).origin, ...config.adminEmbedOrigins])];
}

/** Vite names every asset by its content: a changed file is a new name, so they never go stale. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

export function createAdminPage(options: AdminPageOptions = {}) {
  const dir = path.resolve(options.distDir ?? ADMIN_DIST_DIR);
  const embedOrigins = (options.embedOrigins ?? []).filter((o) => /^https?:\/\/[^\s/'";,]+$/.test(o));
  const headers = {
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    // 'self' covers the page's own websocket (CSP 3); frames only in the page's own origin or a listed embedder.
    'content-security-policy': [
      "default-src 'self'",
      "img-src 'self' data:",
      "base-uri 'none'",
      "object-src 'none'",
      "form-action 'self'",
      `frame-ancestors 'self'${embedOrigins.map((o) => ` ${o}`).join('')}`,
    ].join('; '),
  };

  /** Answers /admin and /admin/*; false for every other path. */
  return async function serveAdminPage(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    if (url.pathname !== ADMIN_PATH && !url.pathname.startsWith(`${ADMIN_PATH}/`)) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('Method not allowed');
      return true;
    }
    if (url.pathname === ADMIN_PATH) {
      // relative URLs of the page resolve against /admin/; the browser keeps a #token fragment across the redirect
      res.writeHead(308, { location: `${ADMIN_PATH}/${url.search}` }).end();
      return true;
    }
    let relative: string;
    try {
      relative = decodeURIComponent(url.pathname.slice(ADMIN_PATH.length + 1));
    } catch {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('Bad path');
      return true;
    }
    const file = path.resolve(dir, relative);
    // `..`, an absolute path or a NUL after decoding: nothing outside the build is ever read
    if (relative.includes('\0') || (file !== dir && !file.startsWith(dir + path.sep))) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found');
      return true;
    }

    const found = relative ? await fileStats(file) : null;
    if (found) {
      const type = CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
      sendFile(req, res, file, found, { ...headers, 'content-type': type, 'cache-control': relative.startsWith('assets/') ? IMMUTABLE : 'no-cache' });
      return true;
    }
    // A missing asset is a 404, not the page: a script answered with HTML fails obscurely.
    if (relative.startsWith('assets/') || path.extname(relative)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found');
      return true;
    }
    const index = path.join(dir, 'index.html');
    let html: string;
    try {
      html = await readFile(index, 'utf8');
    } catch {
      res
        .writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
        .end('The admin page is not built: run `npm run build -w @quiz-gateway/web` (npm start and npm test do it).');
      return true;
    }
    const meta = `<meta name="quiz-admin-embed-origins" content="${embedOrigins.join(' ')}">`;
    const body = Buffer.from(html.replace('</head>', `    ${meta}\n  </head>`));
    res.writeHead(200, { ...headers, 'content-type': CONTENT_TYPES['.html']!, 'cache-control': 'no-cache', 'content-length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  };
}

async function fileStats(file: string): Promise<Stats | null> {
  try {
    const s = await stat(file);
    return s.isFile() ? s : null;
  } catch {
    return null;
  }
}

function sendFile(req: IncomingMessage, res: ServerResponse, file: string, stats: Stats, headers: Record<string, string>) {
  const etag = `W/"${stats.size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}"`;
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, { etag, 'cache-control': headers['cache-control']! }).end();
    return;
  }
  res.writeHead(200, { ...headers, etag, 'content-length': stats.size });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const stream = createReadStream(file);
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}
