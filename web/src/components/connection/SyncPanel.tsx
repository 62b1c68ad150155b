// The last sync: status and counts, "sync now", and the finish as syncCompleted reports it
// (Shell's LiveEvents refetches the account then).
import { useEffect, useState } from 'react';
import { useMutation } from '@apollo/client/react';
import { AccountQuery, SyncMutation } from '../../ops/account.ts';
import { errorText } from '../../lib/errors.ts';
import { useI18n } from '../../i18n/index.tsx';
import type { Account } from './ConnectionScreen.tsx';

const COUNTS = ['users', 'pipelines', 'steps', 'fields', 'tags'] as const;

export function SyncPanel({ account }: { account: Account }) {
  const { t, when, label } = useI18n();
  const job = account.lastSync;
  const running = job?.status === 'QUEUED' || job?.status === 'RUNNING';
  const [sync, syncing] = useMutation(SyncMutation, {
    // the queued job becomes the account's last sync at once
    update: (cache, { data }) => {
      const queued = data?.syncAccount;
      if (!queued) return;
      cache.updateQuery({ query: AccountQuery }, (prev) => (prev?.account ? { account: { ...prev.account, lastSync: queued } } : prev));
    },
  });
  const elapsed = useElapsed(running ? (job?.startedAt ?? job?.queuedAt ?? null) : null);

  return (
    <section className="card stack" aria-labelledby="sync-title">
      <h2 id="sync-title">{t('sync.title')}</h2>
      {job ? (
        <>
          <p>
            <span className={`badge job-${job.status}`} data-testid="sync-status">
              {label('job', job.status)}
            </span>{' '}
            {running ? <span aria-live="polite">{t('sync.running', { seconds: elapsed })}</span> : <span>{t('sync.finishedAt', { when: when(job.finishedAt) })}</span>}
          </p>
          {running && <progress aria-label={t('sync.title')} />}
          {job.error && <p className="banner error">{job.error}</p>}
          <ul className="counts" data-testid="sync-counts">
            {COUNTS.map((key) => (
              <li key={key}>
                <strong>{job.counts[key]}</strong> {t(`sync.count.${key}`)}
              </li>
            ))}
          </ul>
        </>
      ) : (
        <p>{t('sync.never')}</p>
      )}
      <div className="row">
        <button type="button" onClick={() => void sync().catch(() => {})} disabled={running || syncing.loading || account.stale}>
          {t('sync.now')}
        </button>
      </div>
      {syncing.error && (
        <p className="banner error" role="alert">
          {errorText(syncing.error)}
        </p>
      )}
    </section>
  );
}

/** Seconds since `since`, ticking while it is set. */
function useElapsed(since: string | null): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!since) return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [since]);
  return since ? Math.max(0, Math.round((now - new Date(since).getTime()) / 1000)) : 0;
}
