// The node:http front of the gateway: /graphql to yoga (its body bounded), every other route
// to routes.ts, each request timed and logged, and a count of those in flight for shutdown.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { BodyTooLargeError, readBody } from '../platform/http/body.ts';
import type { Metrics } from '../platform/http/metrics.ts';
import { ADMIN_PATH } from '../platform/http/admin-page.ts';
import type { Services } from '../platform/services.ts';
import { annotate, contextOf, SpanKind, withSpan } from '../platform/tracing.ts';
import { handleRoute } from '../routes.ts';
import type { GatewayYoga } from './yoga.ts';

/** Largest request body read (HTTP); the websocket's maxPayload is the same. */
export const MAX_BODY_BYTES = 1 << 20;

const KNOWN_ROUTES = new Set(['/graphql', '/healthz', '/readyz', '/metrics', '/webhook/create', '/webhook/delete']);

/** The metric and log label of a request path: known routes as they are, webhooks without their secret, the admin page's files and routes as one. */
export function routeLabel(pathname: string, status: number): string {
  if (pathname.startsWith('/webhook/amo/')) return '/webhook/amo/:secret';
  if (pathname === ADMIN_PATH || pathname.startsWith(`${ADMIN_PATH}/`)) return ADMIN_PATH;
  return status !== 404 && KNOWN_ROUTES.has(pathname) ? pathname : 'unmatched';
}

export interface HttpFront {
  server: Server;
  /** False once stopAccepting() was called: new requests and websockets are turned away. */
  accepting(): boolean;
  stopAccepting(): void;
  /** Requests being answered now. */
  inFlight(): number;
  /** Resolves when no request is being answered. */
  drained(): Promise<void>;
}

function tooLarge(res: ServerResponse): void {
  res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' }).end('Request body too large');
}

export function createHttpFront(services: Services, metrics: Metrics, yoga: GatewayYoga): HttpFront {
  const { logger } = services;
  const requestLog = logger.child({ component: 'http' });
  let accepting = true;
  let inFlight = 0;
  let onDrained: (() => void) | undefined;

  /** Times and logs the request once its response is closed. */
  function track(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const start = process.hrtime.bigint();
    const method = req.method ?? 'GET';
    inFlight++;
    res.once('close', () => {
      inFlight--;
      if (inFlight === 0) onDrained?.();
      const status = res.statusCode;
      // Fixed labels only: a path may carry a secret (webhooks) or be anything a stranger sent.
      const route = routeLabel(url.pathname, status);
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      metrics.httpDuration.observe({ route, method, status: String(status) }, seconds);
      // No query string (OAuth codes and states travel there), no bodies, no headers but the fact of an authorization.
      requestLog.info(
        {
          method,
          route,
          status,
          durationMs: Math.round(seconds * 1e4) / 10,
          ...(req.headers.authorization ? { authorization: '[redacted]' } : {}),
          ...(res.writableFinished ? {} : { aborted: true }),
        },
        'request',
      );
    });
  }

  async function graphql(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES) {
      tooLarge(res);
      req.resume();
      return;
    }
    if (req.headers['transfer-encoding'] && !req.headers['content-length']) {
      try {
        const body = await readBody(req, MAX_BODY_BYTES);
        // @whatwg-node/server uses an already-read body as it is (a Buffer; an empty one is left out).
        if (body.length > 0) (req as IncomingMessage & { body?: Buffer }).body = body;
      } catch (err) {
        if (!(err instanceof BodyTooLargeError)) throw err;
        tooLarge(res);
        return;
      }
    }
    // The request's span: a child of the caller's traceparent when it sends one.
    const parent = contextOf({ traceparent: req.headers.traceparent as string | undefined, tracestate: req.headers.tracestate as string | undefined });
    const attributes = { 'http.request.method': req.method ?? 'GET', 'http.route': '/graphql' };
    await withSpan(`${req.method ?? 'GET'} /graphql`, { kind: SpanKind.SERVER, parent, attributes }, async () => {
      await yoga.requestListener(req, res);
      annotate({ 'http.response.status_code': res.statusCode });
    });
  }

  async function dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://gateway');
    track(req, res, url);
    try {
      if (!accepting) {
        res.writeHead(503, { 'content-type': 'text/plain', connection: 'close', 'retry-after': '1' }).end('Shutting down');
        return;
      }
      if (url.pathname === '/graphql') return await graphql(req, res);
      if (await handleRoute(services, req, res, url)) return;
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found');
    } catch (err) {
      logger.error({ err }, 'request failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('Internal server error');
    }
  }

  const server = createServer((req, res) => {
    void dispatch(req, res);
  });

  return {
    server,
    accepting: () => accepting,
    stopAccepting() {
      accepting = false;
    },
    inFlight: () => inFlight,
    drained: () => (inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => (onDrained = resolve))),
  };
}
