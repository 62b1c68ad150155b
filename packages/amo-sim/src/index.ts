/**
 * amoCRM (Kommo) API v4 simulator: OAuth, API v4, rate limits, faults, outgoing webhooks.
 *
 *   const sim = createAmoSimulator({ clientId, clientSecret, redirectUri });
 *   const base = await sim.start();            // http://127.0.0.1:PORT
 *   const acc = sim.seedAccount({ pipelines: 3 });
 *   const redirect = sim.authorize({ accountId: acc.id, state: 's', consent: 'allow' });
 *   ...
 *   await sim.stop();
 *
 * Every account lives on the same host (`sim.host`, what the OAuth redirect sends as `referer`);
 * the bearer token tells the accounts apart. The control API is also served as `POST /_sim/<method>`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SimState } from './state.ts';
import type { RequestLogEntry, SimulatorOptions } from './types.ts';
import { HttpError, parseBody, problem, readRawBody, sendError, sendJson } from './http.ts';
import { handleAuthorizePage } from './oauth.ts';
import { handleCurrentSubdomain, handleTokenRequest } from './token-endpoint.ts';
import { authenticate, bearerToken, verifyJwt } from './tokens.ts';
import { applyFault, note429, respondBlocked, respondRateLimited, takeRateSlot } from './limits.ts';
import { handleApi } from './api.ts';
import { type ControlApi, createControl } from './control.ts';
import { handleControlHttp } from './control-http.ts';

export type * from './types.ts';
export type { ControlApi, AccountSummary } from './control.ts';
export type { AuthorizeParams } from './oauth.ts';
export type { TokenPair } from './tokens.ts';
export type { FieldSpec } from './field-factory.ts';
export type { DisconnectHookOptions } from './webhooks.ts';
export { disconnectSignature } from './webhooks.ts';
export { FIELD_TYPES, ENTITY_TYPES } from './types.ts';
export { PHONE_ENUMS, EMAIL_ENUMS, UTM_CODES } from './field-factory.ts';
export { STATUS_WON, STATUS_LOST } from './generator.ts';

export interface AmoSimulator extends ControlApi {
  /** Listens on 127.0.0.1:port (0 = any free port); resolves to the base URL `http://127.0.0.1:PORT`. */
  start(port?: number): Promise<string>;
  stop(): Promise<void>;
  /** `http://127.0.0.1:PORT` (empty before start) */
  readonly url: string;
  /** `127.0.0.1:PORT`, the `referer` of the OAuth redirect (empty before start) */
  readonly host: string;
  /** the in-memory store, for white-box tests */
  readonly state: SimState;
}

export function createAmoSimulator(options: SimulatorOptions = {}): AmoSimulator {
  const state = new SimState(options);
  const control = createControl(state);
  let server: Server | null = null;

  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const at = Date.now();
    const url = new URL(req.url ?? '/', 'http://sim.local');
    const method = req.method ?? 'GET';
    const path = url.pathname;
    let body: unknown;
    try {
      body = parseBody(await readRawBody(req), req.headers['content-type']);
    } catch (e) {
      if (e instanceof HttpError) return sendError(res, e);
      throw e;
    }

    if (path === '/oauth' && method === 'GET') return handleAuthorizePage(state, url, res);
    if (path === '/oauth2/access_token' && method === 'POST') {
      return handleTokenRequest(state, body, res, (accountId) => applyFault(state, accountId, path, req, res, true));
    }
    if (path === '/oauth2/account/current/subdomain' && method === 'GET') return handleCurrentSubdomain(state, req, res);
    if (path === '/_sim' || path.startsWith('/_sim/')) return handleControlHttp(control, state, req, res, url, body);
    if (!path.startsWith('/api/')) return sendJson(res, 404, problem(404, 'Not found'), 'application/problem+json');

    // ---- API v4 ----
    let accountId: number;
    let auth;
    let via: RequestLogEntry['via'] = 'api';
    try {
      auth = authenticate(state, req.headers.authorization);
      accountId = auth.accountId;
    } catch (e) {
      // a known but dead token still tells which account was called: log it there
      const token = bearerToken(req.headers.authorization);
      const payload = token ? verifyJwt(state.opts.jwtSecret, token) : null;
      if (payload && typeof payload.account_id === 'number') logOnClose(payload.account_id, 'api');
      return sendError(res, e as HttpError);
    }
    function logOnClose(id: number, _via: RequestLogEntry['via']) {
      res.once('close', () => {
        state.logRequest(id, {
          method,
          path: url.pathname + url.search,
          status: res.headersSent ? res.statusCode : 0,
          at,
          durationMs: Date.now() - at,
          ...(body !== undefined ? { body } : {}),
          via: _via === 'api' ? via : _via,
        });
      });
    }
    logOnClose(accountId, 'api');

    if (state.blocked.has(accountId)) {
      via = 'blocked';
      respondBlocked(res);
      return;
    }
    const faulted = await applyFault(state, accountId, url.pathname + url.search, req, res, false, () => (via = 'fault'));
    if (faulted !== null) {
      via = 'fault';
      note429(state, accountId, faulted === 429);
      return;
    }
    if (!takeRateSlot(state, accountId)) {
      via = 'rate-limit';
      respondRateLimited(state, res);
      note429(state, accountId, true);
      return;
    }
    note429(state, accountId, false);
    try {
      const acc = state.account(accountId);
      const result = handleApi({ state, acc, auth, method, url, body });
      if (result.status === 204 || result.body === undefined) {
        res.writeHead(result.status);
        res.end();
      } else sendJson(res, result.status, result.body);
    } catch (e) {
      if (e instanceof HttpError) return sendError(res, e);
      throw e;
    }
  };

  const sim: AmoSimulator = {
    ...control,
    state,
    get url() {
      return state.host ? state.baseUrl : '';
    },
    get host() {
      return state.host;
    },
    async start(port = 0) {
      if (server) return state.baseUrl;
      const srv = createServer((req, res) => {
        handler(req, res).catch((err) => {
          if (!res.headersSent && !res.destroyed) sendJson(res, 500, problem(500, `Simulator error: ${(err as Error).message}`), 'application/problem+json');
        });
      });
      srv.keepAliveTimeout = 5_000;
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(port, state.opts.listenHost, () => resolve());
      });
      server = srv;
      const addr = srv.address() as AddressInfo;
      state.host = `${state.opts.listenHost}:${addr.port}`;
      return state.baseUrl;
    },
    async stop() {
      const srv = server;
      if (!srv) return;
      server = null;
      await new Promise<void>((resolve) => {
        srv.close(() => resolve());
        srv.closeAllConnections();
      });
    },
  };
  return sim;
}
