// The signed-in page: header, navigation, the live events every screen shares, the screens.
import { useApolloClient, useQuery, useSubscription } from '@apollo/client/react';
import { readClaims } from '../lib/auth.ts';
import type { LiveState } from '../lib/apollo.ts';
import { hrefOf, navigate, SCREENS, useRoute, type Screen } from '../lib/router.ts';
import { AccountQuery, SyncCompletedSubscription, TokenStaleSubscription } from '../ops/account.ts';
import { useI18n } from '../i18n/index.tsx';
import { LangToggle } from './LangToggle.tsx';
import { NoticeProvider, useNotice } from './notices.tsx';
import { ConnectionScreen } from './connection/ConnectionScreen.tsx';
import { CatalogueScreen } from './catalogue/CatalogueScreen.tsx';
import { RulesScreen } from './rules/RulesScreen.tsx';
import { DeliveriesScreen } from './deliveries/DeliveriesScreen.tsx';
import type { MouseEvent } from 'react';

export function Shell({ token, live, onSignOut }: { token: string; live: LiveState; onSignOut(): void }) {
  return (
    <NoticeProvider>
      <ShellBody token={token} live={live} onSignOut={onSignOut} />
    </NoticeProvider>
  );
}

function ShellBody({ token, live, onSignOut }: { token: string; live: LiveState; onSignOut(): void }) {
  const { t } = useI18n();
  const route = useRoute();
  const claims = readClaims(token);
  const { data, loading, error } = useQuery(AccountQuery);
  const account = data?.account ?? null;
  const go = (screen: Screen) => (event: MouseEvent) => {
    if (event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    navigate(screen);
  };
  return (
    <div className="app">
      <LiveEvents />
      <header className="top">
        <h1>{t('app.title')}</h1>
        <div className="top-meta">
          <span className={`live ${live}`} data-testid="live-state" data-state={live}>
            <span aria-hidden="true">●</span> {t(`live.${live}`)}
          </span>
          {claims.tenant && <span className="tenant">{t('app.tenant', { tenant: claims.tenant })}</span>}
          <LangToggle />
          <button type="button" onClick={onSignOut}>
            {t('app.signOut')}
          </button>
        </div>
      </header>
      {account && (account.stale || account.blocked) && route.screen !== 'connection' && (
        <p className="banner warning" role="alert">
          {account.stale ? t('connection.staleBanner') : t('connection.blockedBanner')}{' '}
          <a href={hrefOf('connection')} onClick={go('connection')}>
            {t('connection.reconnect')}
          </a>
        </p>
      )}
      <nav className="tabs" aria-label={t('nav.label')}>
        {SCREENS.map((screen) => (
          <a key={screen} href={hrefOf(screen)} onClick={go(screen)} aria-current={route.screen === screen ? 'page' : undefined}>
            {t(`nav.${screen}`)}
          </a>
        ))}
      </nav>
      <main>
        {error && !loading && (
          <p className="banner error" role="alert">
            {error.message}
          </p>
        )}
        {route.screen === 'connection' && <ConnectionScreen account={account} loading={loading} />}
        {route.screen === 'catalogue' && <CatalogueScreen connected={!!account} />}
        {route.screen === 'rules' && <RulesScreen quizId={route.params.get('quiz') ?? ''} connected={!!account} />}
        {route.screen === 'deliveries' && <DeliveriesScreen quizId={route.params.get('quiz') ?? ''} subdomain={account?.subdomain ?? null} />}
      </main>
    </div>
  );
}

/** syncCompleted and tokenStale for the whole page: the cache updates, every screen follows. */
function LiveEvents() {
  const { t, label } = useI18n();
  const notice = useNotice();
  const client = useApolloClient();
  useSubscription(SyncCompletedSubscription, {
    onData: ({ data }) => {
      const job = data.data?.syncCompleted;
      if (!job) return;
      notice(t('sync.finishedNotice', { status: label('job', job.status) }), job.status === 'SUCCEEDED' ? 'success' : 'error');
      // the account's lastSync, health and every list on screen come from the new cache
      void client.refetchQueries({ include: 'active' });
    },
  });
  useSubscription(TokenStaleSubscription, {
    onData: ({ data }) => {
      if (data.data?.tokenStale) notice(t('connection.staleBanner'), 'warning');
    },
  });
  return null;
}
