// The amoCRM connection: connect in a popup, the account, stale/blocked with a reconnect
// button, disconnect with a confirmation; then the sync and the deliveries' health.
import { useState } from 'react';
import { useApolloClient, useMutation } from '@apollo/client/react';
import type { AdminAccountQuery } from '../../gql/graphql.ts';
import { AccountQuery, DisconnectMutation } from '../../ops/account.ts';
import { errorText } from '../../lib/errors.ts';
import { useI18n } from '../../i18n/index.tsx';
import { ConfirmDialog } from '../ConfirmDialog.tsx';
import { useNotice } from '../notices.tsx';
import { useConnectPopup } from './useConnectPopup.ts';
import { SyncPanel } from './SyncPanel.tsx';
import { HealthPanel } from './HealthPanel.tsx';
import { AlertsPanel } from './AlertsPanel.tsx';

export type Account = NonNullable<AdminAccountQuery['account']>;

export function ConnectionScreen({ account, loading }: { account: Account | null; loading: boolean }) {
  const { t, when } = useI18n();
  const client = useApolloClient();
  const notice = useNotice();
  const popup = useConnectPopup(() => {
    void client.refetchQueries({ include: [AccountQuery] });
  });
  const [confirming, setConfirming] = useState(false);
  const [disconnect, disconnecting] = useMutation(DisconnectMutation, {
    // the account is gone for this tenant: so is everything cached about it
    update: (cache) => cache.writeQuery({ query: AccountQuery, data: { account: null } }),
    onCompleted: () => notice(t('connection.disconnected'), 'info'),
  });
  const needsReconnect = !!account && (account.stale || account.blocked);

  if (loading && !account) return <p aria-busy="true">{t('common.loading')}</p>;
  return (
    <div className="grid">
      <section className="card stack" aria-labelledby="connection-title">
        <h2 id="connection-title">{t('connection.title')}</h2>
        {account ? (
          <>
            <dl className="facts">
              <dt>{t('connection.account')}</dt>
              <dd data-testid="account-name">{account.name}</dd>
              <dt>{t('connection.subdomain')}</dt>
              <dd>
                <a href={`https://${account.subdomain}.amocrm.ru`} target="_blank" rel="noreferrer">
                  {account.subdomain}.amocrm.ru
                </a>
              </dd>
              <dt>{t('connection.since')}</dt>
              <dd>{when(account.createdAt)}</dd>
              <dt>{t('connection.state')}</dt>
              <dd data-testid="account-state" className={needsReconnect ? 'bad' : 'good'}>
                {account.stale ? t('connection.stale') : account.blocked ? t('connection.blocked') : t('connection.ok')}
              </dd>
            </dl>
            {account.reconcileMode === 'LEAD_CONTENT' && (
              <p className="banner info">
                {t('connection.leadContent')} {account.reconcileNote}
              </p>
            )}
            {needsReconnect && (
              <p className="banner warning" role="alert">
                {account.stale ? t('connection.staleBanner') : t('connection.blockedBanner')}
              </p>
            )}
            <div className="row">
              {needsReconnect && (
                <button type="button" className="primary" onClick={() => void popup.start()} disabled={popup.state.phase === 'waiting'}>
                  {t('connection.reconnect')}
                </button>
              )}
              <button type="button" className="danger" onClick={() => setConfirming(true)} disabled={disconnecting.loading}>
                {t('connection.disconnect')}
              </button>
            </div>
          </>
        ) : (
          <>
            <p>{t('connection.none')}</p>
            <div className="row">
              <button type="button" className="primary" onClick={() => void popup.start()} disabled={popup.state.phase === 'waiting'}>
                {t('connection.connect')}
              </button>
            </div>
          </>
        )}
        <PopupState state={popup.state} />
        {disconnecting.error && (
          <p className="banner error" role="alert">
            {errorText(disconnecting.error)}
          </p>
        )}
      </section>
      {account && <SyncPanel account={account} />}
      {account && <HealthPanel account={account} />}
      <AlertsPanel />
      <ConfirmDialog
        open={confirming}
        title={t('connection.disconnectTitle')}
        confirmLabel={t('connection.disconnectConfirm')}
        onCancel={() => setConfirming(false)}
        onConfirm={() => {
          setConfirming(false);
          void disconnect().catch(() => {});
        }}
      >
        <p>{t('connection.disconnectText', { name: account?.name ?? '' })}</p>
      </ConfirmDialog>
    </div>
  );
}

function PopupState({ state }: { state: ReturnType<typeof useConnectPopup>['state'] }) {
  const { t } = useI18n();
  switch (state.phase) {
    case 'waiting':
      return <p className="banner info">{t('connection.waiting')}</p>;
    case 'blocked':
      return (
        <p className="banner warning">
          {t('connection.popupBlocked')}{' '}
          <a href={state.link} target="amocrm-connect" rel="opener">
            {t('connection.openAmo')}
          </a>
        </p>
      );
    case 'done':
      return (
        <p className={`banner ${state.ok ? 'success' : 'error'}`} role={state.ok ? 'status' : 'alert'} data-testid="connect-result">
          {state.ok ? t('connection.connected') : `${t('connection.notConnected')} ${state.message}`}
        </p>
      );
    case 'failed':
      return (
        <p className="banner error" role="alert">
          {state.message}
        </p>
      );
    default:
      return null;
  }
}
