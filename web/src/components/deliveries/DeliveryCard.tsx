import { useMutation } from '@apollo/client/react';
import type { DeliveryItemFragment } from '../../gql/graphql.ts';
import { RetryDeliveryMutation } from '../../ops/deliveries.ts';
import { errorText } from '../../lib/errors.ts';
import { useI18n } from '../../i18n/index.tsx';

/** amoCRM's page of a lead in the account (its subdomain). */
export const leadUrl = (subdomain: string, leadId: string) => `https://${subdomain}.amocrm.ru/leads/detail/${leadId}`;

export function DeliveryCard({ delivery: d, subdomain }: { delivery: DeliveryItemFragment; subdomain: string | null }) {
  const { t, when, label } = useI18n();
  const [retry, retrying] = useMutation(RetryDeliveryMutation, { variables: { id: d.id } });
  return (
    <li className={`delivery status-${d.status}`} data-testid="delivery" data-result-id={d.resultId} data-status={d.status}>
      <div className="row between">
        <span className={`badge status-${d.status}`} data-testid="delivery-status">
          {label('status', d.status)}
        </span>
        <span className="hint">{when(d.createdAt)}</span>
      </div>
      <p>
        <code>{d.resultId}</code> · {t('deliveries.quiz', { quizId: d.quizId })}
        {d.attempts > 0 && <> · {t('deliveries.attempts', { n: d.attempts })}</>}
      </p>
      {d.reason && (
        <p data-testid="delivery-reason">
          <strong>{label('reason', d.reason)}</strong>
          {d.lastError && <> — {d.lastError}</>}
          {d.status === 'PENDING' && d.nextAttemptAt && <> · {t('deliveries.nextAttempt', { when: when(d.nextAttemptAt) })}</>}
        </p>
      )}
      {d.fullAmoLeadId != null && (
        <p>
          {subdomain ? (
            <a href={leadUrl(subdomain, d.fullAmoLeadId)} target="_blank" rel="noreferrer" data-testid="lead-link">
              {t('deliveries.lead', { id: d.fullAmoLeadId })}
            </a>
          ) : (
            t('deliveries.lead', { id: d.fullAmoLeadId })
          )}
          {d.leadStep && (
            <>
              {' '}
              · {t('deliveries.now')}{' '}
              <span className="step" style={{ borderColor: d.leadStep.color ?? undefined }}>
                {d.leadStep.pipeline.name} → {d.leadStep.name}
              </span>
            </>
          )}
          {d.leadOutcome && (
            <>
              {' '}
              · <span className={`badge outcome-${d.leadOutcome}`}>{label('outcome', d.leadOutcome)}</span>
            </>
          )}
          {d.leadDeleted && (
            <>
              {' '}
              ·{' '}
              <span className="badge status-FAILED" data-testid="lead-deleted">
                {t('deliveries.leadDeleted', { when: d.leadDeletedAt ? when(d.leadDeletedAt) : '' })}
              </span>
            </>
          )}
        </p>
      )}
      {d.answers.length > 0 && (
        <details data-testid="delivery-answers">
          <summary>{t('deliveries.answers', { n: d.answers.length })}</summary>
          <dl>
            {d.answers.map((a) => (
              <div key={a.questionId}>
                <dt>{a.title ?? a.questionId}</dt>
                <dd>{a.values.join(', ')}</dd>
              </div>
            ))}
          </dl>
        </details>
      )}
      {d.warnings.length > 0 && (
        <ul className="warnings">
          {d.warnings.map((w) => (
            <li key={w}>{w}</li>
          ))}
        </ul>
      )}
      {d.status === 'FAILED' && (
        <div className="row">
          <button type="button" onClick={() => void retry().catch(() => {})} disabled={retrying.loading}>
            {t('deliveries.retry')}
          </button>
          {retrying.error && (
            <span className="field-error" role="alert">
              {errorText(retrying.error)}
            </span>
          )}
        </div>
      )}
    </li>
  );
}
