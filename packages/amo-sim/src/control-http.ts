/** The control API over HTTP: `/_sim/<method>` and the `GET /_sim` listing. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SimState } from './state.ts';
import type { ControlApi } from './control.ts';
import { sendJson, sendEmpty } from './http.ts';

/** Control methods that take a function (`mutate`), so JSON cannot call them. */
const IN_PROCESS_ONLY: ReadonlySet<string> = new Set<keyof ControlApi>(['mutate']);

/** Methods callable as `POST /_sim/<method>`: every control method but the in-process ones, in the API's order. */
function httpMethods(control: ControlApi): string[] {
  return Object.keys(control).filter((name) => !IN_PROCESS_ONLY.has(name));
}

/**
 * `/_sim/<method>`: POST with a JSON array of arguments (a non-array body is the single argument),
 * or GET with `?args=<json array>` or `?accountId=N`. Answers the result as JSON (204 when none);
 * 400 `{error}` when the call throws. `GET /_sim` lists the methods and the host.
 */
export async function handleControlHttp(control: ControlApi, state: SimState, req: IncomingMessage, res: ServerResponse, url: URL, body: unknown): Promise<void> {
  const name = url.pathname.replace(/^\/_sim\/?/, '');
  const methods = httpMethods(control);
  if (!name) {
    sendJson(
      res,
      200,
      {
        host: state.host,
        url: state.baseUrl,
        integrations: [...state.integrations.values()].map((i) => ({ clientId: i.clientId, redirectUri: i.redirectUri })),
        methods,
      },
      'application/json',
    );
    return;
  }
  if (!methods.includes(name)) {
    sendJson(res, 404, { error: `unknown control method ${name}` }, 'application/json');
    return;
  }
  let args: unknown[];
  if (req.method === 'GET') {
    const a = url.searchParams.get('args');
    args = a ? JSON.parse(a) : url.searchParams.has('accountId') ? [Number(url.searchParams.get('accountId'))] : [];
  } else args = Array.isArray(body) ? body : body === undefined ? [] : [body];
  try {
    const fn = control[name as keyof ControlApi] as (...a: unknown[]) => unknown;
    const result = await fn(...args);
    if (result === undefined) sendEmpty(res, 204);
    else sendJson(res, 200, result, 'application/json');
  } catch (e) {
    sendJson(res, 400, { error: (e as Error).message }, 'application/json');
  }
}
