/** OAuth consent as amoCRM does it: the authorize page (/oauth) and the redirect with a one-shot code. */
import type { ServerResponse } from 'node:http';
import type { SimState } from './state.ts';
import { escapeHtml, sendText } from './http.ts';
import { opaqueToken } from './tokens.ts';

export interface AuthorizeParams {
  accountId: number;
  clientId?: string;
  state?: string;
  consent: 'allow' | 'deny';
  /** the granting user (must be an active admin); default: the account's first admin */
  userId?: number;
  /** adds `from_widget=1` to the redirect */
  fromWidget?: boolean;
}

/** Grants or refuses consent and returns the URL amoCRM would redirect the browser to. */
export function authorize(state: SimState, p: AuthorizeParams): string {
  const integration = state.integrations.get(p.clientId ?? state.mainIntegration().clientId);
  if (!integration) throw new Error(`amo-sim: unknown client_id ${p.clientId}`);
  const target = new URL(integration.redirectUri);
  if (p.consent === 'deny') {
    target.searchParams.set('error', 'access_denied');
    if (p.state !== undefined) target.searchParams.set('state', p.state);
    return target.toString();
  }
  const acc = state.account(p.accountId);
  const user = p.userId !== undefined ? acc.users.find((u) => u.id === p.userId) : acc.users.find((u) => u.rights.is_admin && u.rights.is_active);
  if (!user || !user.rights.is_admin || !user.rights.is_active) throw new Error('amo-sim: only an active account admin can grant access');
  const code = opaqueToken(160);
  state.codes.set(code, {
    code,
    accountId: acc.id,
    clientId: integration.clientId,
    userId: user.id,
    expiresAt: state.now() + state.opts.codeTtlSec * 1000,
    used: false,
  });
  target.searchParams.set('code', code);
  target.searchParams.set('referer', state.host);
  if (p.state !== undefined) target.searchParams.set('state', p.state);
  target.searchParams.set('platform', '1');
  target.searchParams.set('client_id', integration.clientId);
  if (p.fromWidget) target.searchParams.set('from_widget', '1');
  return target.toString();
}

/** GET /oauth — the authorize page, or the redirect once consent is given by query flags. */
export function handleAuthorizePage(state: SimState, url: URL, res: ServerResponse): void {
  const q = url.searchParams;
  const clientId = q.get('client_id') ?? '';
  if (!state.integrations.has(clientId)) {
    sendText(res, 400, page('Ошибка', '<p>Интеграция не найдена (неверный client_id).</p>'));
    return;
  }
  const consent = q.get('consent');
  if (consent === 'allow' || consent === 'deny') {
    const accountId = Number(q.get('account_id'));
    if (consent === 'allow' && !state.accounts.has(accountId)) {
      sendText(res, 404, page('Ошибка', '<p>Аккаунт не найден.</p>'));
      return;
    }
    try {
      const location = authorize(state, {
        accountId,
        clientId,
        state: q.get('state') ?? undefined,
        consent,
        userId: q.has('user_id') ? Number(q.get('user_id')) : undefined,
        fromWidget: q.get('from_widget') === '1',
      });
      res.writeHead(302, { location, 'content-length': 0 });
      res.end();
    } catch (e) {
      sendText(res, 403, page('Доступ запрещён', `<p>${escapeHtml((e as Error).message)}</p>`));
    }
    return;
  }
  const hidden = ['client_id', 'state', 'mode', 'from_widget']
    .filter((k) => q.has(k))
    .map((k) => `<input type="hidden" name="${k}" value="${escapeHtml(q.get(k) as string)}">`)
    .join('');
  const options = [...state.accounts.values()].map((a) => `<option value="${a.id}">${escapeHtml(a.name)} (${escapeHtml(a.subdomain)})</option>`).join('');
  sendText(
    res,
    200,
    page(
      'Предоставить доступ',
      `<form method="get" action="/oauth">${hidden}
<p>Интеграция <b>${escapeHtml(clientId)}</b> запрашивает доступ к аккаунту:</p>
<select name="account_id">${options}</select>
<p><button name="consent" value="allow">Разрешить</button> <button name="consent" value="deny">Отказать</button></p>
</form>`,
    ),
  );
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="ru"><head><meta charset="utf-8"><title>${escapeHtml(title)} — amoCRM simulator</title></head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}
