/** Per-account rate limiting (sliding 1-second window), account blocking and fault injection. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FaultState, SimState } from './state.ts';
import type { Fault } from './types.ts';
import { problem, sendEmpty, sendJson, sendText } from './http.ts';

export const BLOCKED_HTML =
  '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Доступ запрещён</title></head><body><h1>403 Forbidden</h1><p>Аккаунт заблокирован за превышение лимитов API. Обратитесь в техническую поддержку.</p></body></html>';

const RATE_LIMIT_HTML = '<html><head><title>429 Too Many Requests</title></head><body><center><h1>429 Too Many Requests</h1></center><hr><center>nginx</center></body></html>';

const NGINX_5XX: Record<number, string> = {
  502: '502 Bad Gateway',
  503: '503 Service Temporarily Unavailable',
  504: '504 Gateway Time-out',
};

export function addFault(state: SimState, accountId: number, fault: Fault): void {
  let list = state.faults.get(accountId);
  if (!list) state.faults.set(accountId, (list = []));
  const count = fault.kind === 'block' ? 1 : Math.max(1, fault.count ?? 1);
  const path = fault.path === undefined ? null : fault.path instanceof RegExp ? fault.path : new RegExp(fault.path);
  list.push({ fault, remaining: count, path });
}

export function pendingFaults(state: SimState, accountId: number): Array<Fault & { remaining: number }> {
  return (state.faults.get(accountId) ?? []).map((f) => ({ ...f.fault, remaining: f.remaining }));
}

/**
 * Sliding-window limiter over the real clock. Returns true when the request may proceed.
 * By default only served requests fill the window, so served requests never exceed the limit
 * in any 1-second window; with `rateLimitCountsRejected` every arrival counts.
 */
export function takeRateSlot(state: SimState, accountId: number): boolean {
  const now = performance.timeOrigin + performance.now();
  let win = state.rateWindows.get(accountId);
  if (!win) state.rateWindows.set(accountId, (win = []));
  while (win[0] !== undefined && win[0] <= now - 1000) win.shift();
  const allowed = win.length < state.opts.rateLimitRps;
  if (allowed || state.opts.rateLimitCountsRejected) win.push(now);
  return allowed;
}

export function respondBlocked(res: ServerResponse): number {
  sendText(res, 403, BLOCKED_HTML);
  return 403;
}

let rateLimitFlip = 0;

export function respondRateLimited(state: SimState, res: ServerResponse, retryAfterSec?: number): number {
  const headers: Record<string, string> = retryAfterSec !== undefined ? { 'retry-after': String(retryAfterSec) } : {};
  const mode = state.opts.rateLimitBody;
  const html = mode === 'html' || (mode === 'alternate' && rateLimitFlip++ % 2 === 1);
  if (html) sendText(res, 429, RATE_LIMIT_HTML, 'text/html', headers);
  else {
    if (res.headersSent) return 429;
    const text = JSON.stringify(problem(429, 'Too many requests'));
    res.writeHead(429, { 'content-type': 'application/problem+json; charset=utf-8', ...headers });
    res.end(text);
  }
  return 429;
}

/** Count consecutive 429s; with `blockAfter429s` set (the account's, else the simulator's), block the account after that many. */
export function note429(state: SimState, accountId: number, was429: boolean): void {
  if (!was429) {
    state.consecutive429.set(accountId, 0);
    return;
  }
  const n = (state.consecutive429.get(accountId) ?? 0) + 1;
  state.consecutive429.set(accountId, n);
  const limit = state.accounts.get(accountId)?.blockAfter429s ?? state.opts.blockAfter429s;
  if (limit > 0 && n >= limit) state.blocked.add(accountId);
}

function takeFault(state: SimState, accountId: number, path: string, explicitOnly: boolean): FaultState | undefined {
  const list = state.faults.get(accountId);
  if (!list) return undefined;
  const i = list.findIndex((f) => (f.path ? f.path.test(path) : !explicitOnly));
  const f = list[i];
  if (!f) return undefined;
  f.remaining -= 1;
  if (f.remaining <= 0) list.splice(i, 1);
  return f;
}

function send5xx(res: ServerResponse, status: number): void {
  if (NGINX_5XX[status]) {
    sendText(res, status, `<html><head><title>${NGINX_5XX[status]}</title></head><body><center><h1>${NGINX_5XX[status]}</h1></center><hr><center>nginx</center></body></html>`);
  } else if (status >= 500) {
    sendJson(res, status, problem(status, 'Internal error'), 'application/problem+json');
  } else {
    sendEmpty(res, status);
  }
}

/**
 * Lets the handler run to the end, then holds its answer back: `deliver` gets a function that
 * sends the held answer (or may drop it and answer otherwise). Models "amoCRM stored it, the
 * client never heard": the gateway timed out, the connection broke, the answer came late.
 */
function holdAnswer(res: ServerResponse, deliver: (sendHeld: () => void) => void): void {
  const writeHead = res.writeHead;
  const end = res.end;
  let head: Parameters<ServerResponse['writeHead']> | null = null;
  res.writeHead = ((...args: Parameters<ServerResponse['writeHead']>) => {
    head = args;
    return res;
  }) as ServerResponse['writeHead'];
  res.end = ((...args: unknown[]) => {
    res.writeHead = writeHead;
    res.end = end;
    deliver(() => {
      if (res.destroyed) return;
      if (head) (writeHead as (...a: unknown[]) => void).apply(res, head);
      (end as (...a: unknown[]) => void).apply(res, args);
    });
    return res;
  }) as ServerResponse['end'];
}

/**
 * Applies the next matching fault. Returns the status sent (0 for a reset socket) when the
 * request was answered by the fault, or null when handling should continue (no fault, 'slow', or a
 * fault that acts after processing: 'slowAfter', 'resetAfter', '5xx' with `after`; then `onAfter` is called).
 * `explicitOnly`: only faults with a `path` apply (used on the OAuth token endpoint).
 */
export async function applyFault(
  state: SimState,
  accountId: number,
  path: string,
  req: IncomingMessage,
  res: ServerResponse,
  explicitOnly = false,
  onAfter?: () => void,
): Promise<number | null> {
  const f = takeFault(state, accountId, path, explicitOnly);
  if (!f) return null;
  const fault = f.fault;
  switch (fault.kind) {
    case 'slow':
      await new Promise((r) => setTimeout(r, fault.delayMs));
      return null;
    case 'block':
      state.blocked.add(accountId);
      return respondBlocked(res);
    case '429':
      return respondRateLimited(state, res, fault.retryAfterSec);
    case 'reset':
      req.socket.destroy();
      return 0;
    case 'slowAfter':
      onAfter?.();
      holdAnswer(res, (sendHeld) => void setTimeout(sendHeld, fault.delayMs));
      return null;
    case 'resetAfter':
      onAfter?.();
      holdAnswer(res, () => req.socket.destroy());
      return null;
    case '5xx': {
      const status = fault.status ?? 500;
      if (fault.after) {
        onAfter?.();
        holdAnswer(res, () => send5xx(res, status));
        return null;
      }
      send5xx(res, status);
      return status;
    }
  }
}
