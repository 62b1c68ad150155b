// The non-GraphQL routes of the contract.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterConnect, completeAuthorization, handleDisconnectHook, oauthResultPage } from './features/accounts/index.ts';
import type { Config } from './platform/config.ts';
import type { Services } from './platform/services.ts';
import { handleAmoWebhookRequest, webhookSecretFromPath } from './features/webhooks/index.ts';
import { adminOrigins, createAdminPage } from './platform/http/admin-page.ts';
import { bearerMatches } from './platform/http/bearer.ts';
import { requestSignal } from './platform/http/request-signal.ts';

// The quiz owner's admin page (web/dist) at /admin: one per configuration (its embedders are a setting).
const adminPages = new WeakMap<Config, ReturnType<typeof createAdminPage>>();
function adminPage(config: Config) {
  let page = adminPages.get(config);
  if (!page) adminPages.set(config, (page = createAdminPage({ embedOrigins: config.adminEmbedOrigins })));
  return page;
}

export function sendJson(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}

/** Answers the request when it is one of ours; false lets the caller answer 404. */
export async function handleRoute(services: Services, req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
  // amoCRM's event webhooks: POST /webhook/amo/{per-account secret}
  const webhookSecret = webhookSecretFromPath(url.pathname);
  if (webhookSecret !== null) {
    await handleAmoWebhookRequest(services, req, res, webhookSecret);
    return true;
  }
  if (await adminPage(services.config)(req, res, url)) return true;
  switch (`${req.method} ${url.pathname}`) {
    case 'GET /healthz':
      sendJson(res, 200, { status: 'ok' });
      return true;
    case 'GET /readyz': {
      const [database, queue] = await Promise.all([
        services.db.$queryRaw`SELECT 1`.then(
          () => true,
          () => false,
        ),
        services.queue.ready().catch(() => false),
      ]);
      sendJson(res, database && queue ? 200 : 503, { database, queue });
      return true;
    }
    case 'GET /metrics': {
      if (!services.metrics) return false;
      const { metricsToken } = services.config;
      if (metricsToken && !bearerMatches(req.headers.authorization, metricsToken)) {
        res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer realm="metrics"' }).end('Unauthorized');
        return true;
      }
      const { contentType, body } = await services.metrics.scrape();
      res.writeHead(200, { 'content-type': contentType }).end(body);
      return true;
    }
    case 'GET /webhook/create': {
      const signal = requestSignal(res);
      const outcome = await completeAuthorization(services, url.searchParams, (account) => afterConnect(services, account, { signal }), { signal });
      const message = outcome.ok ? `${outcome.account.name} (${outcome.account.subdomain}) is connected; its pipelines, fields and tags are being loaded.` : outcome.reason;
      res
        .writeHead(outcome.ok ? 200 : outcome.status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
        .end(oauthResultPage({ ok: outcome.ok, message }, adminOrigins(services.config)));
      return true;
    }
    case 'GET /webhook/delete': {
      const disconnected = await handleDisconnectHook(services, url.searchParams);
      if (disconnected === null) sendJson(res, 401, { error: 'invalid signature' });
      else sendJson(res, 200, { disconnected });
      return true;
    }
    default:
      return false;
  }
}
