// Where the page's bearer token comes from: pasted, the URL fragment (#token=…), or a
// postMessage from the quiz platform that embeds the page. Kept for the tab only.

const STORAGE_KEY = 'quiz-admin.token';
/** The message an embedding page sends: `{ type: 'quiz-admin:token', token }`. */
export const TOKEN_MESSAGE = 'quiz-admin:token';
/** The message this page sends to its embedder when it needs a (new) token. */
export const TOKEN_NEEDED_MESSAGE = 'quiz-admin:token-needed';

export function storedToken(): string | null {
  try {
    return sessionStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

export function saveToken(token: string | null): void {
  try {
    if (token) sessionStorage.setItem(STORAGE_KEY, token);
    else sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // storage off (private mode): the token lives in memory only
  }
}

/** `#token=…` once: the fragment is removed so the token stays out of history and bookmarks. */
export function takeTokenFromFragment(): string | null {
  const params = new URLSearchParams(window.location.hash.replace(/^#/, ''));
  const token = params.get('token');
  if (!token) return null;
  params.delete('token');
  const rest = params.toString();
  history.replaceState(history.state, '', `${window.location.pathname}${window.location.search}${rest ? `#${rest}` : ''}`);
  return token.trim();
}

/** Origins allowed to hand a token in: this one, plus those the server names in a meta tag. */
export function embedderOrigins(): string[] {
  const meta = document.querySelector<HTMLMetaElement>('meta[name="quiz-admin-embed-origins"]');
  const listed = (meta?.content ?? '').split(/[\s,]+/).filter(Boolean);
  return [window.location.origin, ...listed];
}

const embedded = () => window.parent !== window;

/** Calls `onToken` for each token the embedding page posts; returns the unsubscribe. */
export function listenForEmbedderToken(onToken: (token: string) => void): () => void {
  const allowed = new Set(embedderOrigins());
  const listener = (event: MessageEvent) => {
    // Only the frame's own parent, from an allowed origin: any other window could plant a token of its tenant.
    if (!embedded() || event.source !== window.parent || !allowed.has(event.origin)) return;
    const data = event.data as { type?: unknown; token?: unknown } | null;
    if (data?.type === TOKEN_MESSAGE && typeof data.token === 'string' && data.token.trim()) onToken(data.token.trim());
  };
  window.addEventListener('message', listener);
  return () => window.removeEventListener('message', listener);
}

/** Tells the embedding page (if any) that a token is needed, e.g. after the last one expired. */
export function askEmbedderForToken(reason: 'missing' | 'expired'): void {
  if (!embedded()) return;
  for (const origin of embedderOrigins()) {
    try {
      window.parent.postMessage({ type: TOKEN_NEEDED_MESSAGE, reason }, origin);
    } catch {
      // a malformed origin in the list: skip it
    }
  }
}

export interface TokenClaims {
  tenant: string | null;
  expiresAt: Date | null;
}

/** The token's claims as written (not verified: for display only; the gateway decides). */
export function readClaims(token: string): TokenClaims {
  try {
    const part = token.split('.')[1] ?? '';
    const json = JSON.parse(
      atob(
        part
          .replace(/-/g, '+')
          .replace(/_/g, '/')
          .padEnd(Math.ceil(part.length / 4) * 4, '='),
      ),
    ) as Record<string, unknown>;
    const tenant = typeof json.accountId === 'string' ? json.accountId : typeof json.sub === 'string' ? json.sub : null;
    return { tenant, expiresAt: typeof json.exp === 'number' ? new Date(json.exp * 1000) : null };
  } catch {
    return { tenant: null, expiresAt: null };
  }
}
