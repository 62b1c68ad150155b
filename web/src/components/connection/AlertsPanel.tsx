// The owner's alert webhook: where alerts go when no page is open, a test alert, the last ones' outcome.
import { useState, type FormEvent } from 'react';
import { useMutation, useQuery } from '@apollo/client/react';
import { AlertWebhookQuery, RemoveAlertWebhookMutation, SendTestAlertMutation, SetAlertWebhookMutation } from '../../ops/alerts.ts';
import { errorText } from '../../lib/errors.ts';
import { useI18n } from '../../i18n/index.tsx';
import { useNotice } from '../notices.tsx';

export function AlertsPanel() {
  const { t, when } = useI18n();
  const notice = useNotice();
  const { data } = useQuery(AlertWebhookQuery, { fetchPolicy: 'cache-and-network' });
  const hook = data?.alertWebhook ?? null;
  const [url, setUrl] = useState('');
  const [secret, setSecret] = useState('');
  const refetch = { refetchQueries: [AlertWebhookQuery], awaitRefetchQueries: true };
  const [save, saving] = useMutation(SetAlertWebhookMutation, { ...refetch, onCompleted: () => (setSecret(''), notice(t('alerts.saved'), 'success')) });
  const [remove, removing] = useMutation(RemoveAlertWebhookMutation, refetch);
  const [test, testing] = useMutation(SendTestAlertMutation, { ...refetch, onCompleted: () => notice(t('alerts.testSent'), 'info') });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    void save({ variables: { input: { url: url || hook?.url || '', secret } } }).catch(() => {});
  };
  const error = saving.error ?? removing.error ?? testing.error;
  return (
    <section className="card stack" aria-labelledby="alerts-title">
      <h2 id="alerts-title">{t('alerts.title')}</h2>
      <p className="hint">{t('alerts.hint')}</p>
      <form className="stack" onSubmit={submit}>
        <label>
          {t('alerts.url')}
          <input type="url" required placeholder={hook?.url ?? 'https://'} value={url} onChange={(e) => setUrl(e.target.value)} data-testid="alert-url" />
        </label>
        <label>
          {t('alerts.secret')}
          <input type="password" required minLength={16} autoComplete="new-password" value={secret} onChange={(e) => setSecret(e.target.value)} data-testid="alert-secret" />
        </label>
        <div className="row">
          <button type="submit" disabled={saving.loading}>
            {saving.loading ? t('common.saving') : t('alerts.save')}
          </button>
          {hook && (
            <>
              <button type="button" onClick={() => void test().catch(() => {})} disabled={testing.loading}>
                {t('alerts.test')}
              </button>
              <button type="button" onClick={() => void remove().catch(() => {})} disabled={removing.loading}>
                {t('common.remove')}
              </button>
            </>
          )}
        </div>
      </form>
      {error && (
        <p className="banner error" role="alert">
          {errorText(error)}
        </p>
      )}
      {hook && (
        <>
          <p data-testid="alert-current">{t('alerts.current', { url: hook.url })}</p>
          {hook.recentAlerts.length > 0 && (
            <ul data-testid="alert-recent">
              {hook.recentAlerts.map((a) => (
                <li key={a.id} className={a.status === 'FAILED' ? 'bad' : undefined}>
                  {when(a.createdAt)} · {a.kind} · {a.status} ({a.attempts}
                  {a.lastStatusCode ? `, HTTP ${a.lastStatusCode}` : ''}){a.lastError ? ` — ${a.lastError}` : ''}
                </li>
              ))}
            </ul>
          )}
        </>
      )}
    </section>
  );
}
