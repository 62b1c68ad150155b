// Retries every FAILED delivery (of the chosen quiz, or all) at once.
import { useMutation } from '@apollo/client/react';
import { RetryFailedDeliveriesMutation } from '../../ops/alerts.ts';
import { errorText } from '../../lib/errors.ts';
import { useI18n } from '../../i18n/index.tsx';
import { useNotice } from '../notices.tsx';

export function RetryFailedButton({ quizId }: { quizId: string }) {
  const { t } = useI18n();
  const notice = useNotice();
  const [retry, retrying] = useMutation(RetryFailedDeliveriesMutation, {
    variables: { quizId: quizId || null },
    refetchQueries: 'active',
    onCompleted: (data) => notice(t('deliveries.retriedAll', { count: data.retryFailedDeliveries }), 'info'),
  });
  return (
    <div className="row">
      <button type="button" onClick={() => void retry().catch(() => {})} disabled={retrying.loading} data-testid="retry-failed">
        {t('deliveries.retryAll')}
      </button>
      {retrying.error && <span className="bad">{errorText(retrying.error)}</span>}
    </div>
  );
}
