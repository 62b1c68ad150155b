import type { Account } from './ConnectionScreen.tsx';
import { hrefOf, navigate } from '../../lib/router.ts';
import { useI18n } from '../../i18n/index.tsx';

/** What waits or failed, so an owner sees a problem before a lead is missed. */
export function HealthPanel({ account }: { account: Account }) {
  const { t, when, label } = useI18n();
  const h = account.deliveryHealth;
  return (
    <section className="card stack" aria-labelledby="health-title">
      <h2 id="health-title">{t('health.title')}</h2>
      <ul className="counts">
        <li>
          <strong>{h.waiting}</strong> {t('health.waiting')}
        </li>
        <li className={h.failed ? 'bad' : undefined}>
          <strong>{h.failed}</strong> {t('health.failed')}
        </li>
      </ul>
      {h.oldestWaitingAt && <p>{t('health.oldest', { when: when(h.oldestWaitingAt) })}</p>}
      {h.reasons.length > 0 && (
        <ul>
          {h.reasons.map((r) => (
            <li key={r.reason}>
              {label('reason', r.reason)}: {r.count}
            </li>
          ))}
        </ul>
      )}
      <p>
        <a
          href={hrefOf('deliveries')}
          onClick={(e) => {
            e.preventDefault();
            navigate('deliveries');
          }}
        >
          {t('health.open')}
        </a>
      </p>
    </section>
  );
}
