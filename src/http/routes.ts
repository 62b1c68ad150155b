// The non-GraphQL routes of the contract.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Services } from '../services.ts';

export function sendJson(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}

/** Answers the request when it is one of ours; false lets the caller answer 404. */
export async function handleRoute(services: Services, req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
  switch (`${req.method} ${url.pathname}`) {
    case 'GET /healthz':
      sendJson(res, 200, { status: 'ok' });
      return true;
    case 'GET /readyz': {
      const [database, queue] = await Promise.all([
        services.db.$queryRaw`SELECT 1`.then(() => true, () => false),
        services.queue.ready().catch(() => false),
      ]);
      sendJson(res, database && queue ? 200 : 503, { database, queue });
      return true;
    }
    default:
      return false;
  }
}
