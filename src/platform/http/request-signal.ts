// The cancellation signal of a plain node:http request (yoga gives GraphQL requests their own).
import type { ServerResponse } from 'node:http';

/** Aborts when the client goes away before its answer was written, so the work done for it can stop. */
export function requestSignal(res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort(new Error('the client closed the request'));
  });
  return controller.signal;
}
