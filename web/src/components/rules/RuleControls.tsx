// A saved rule's controls: pause / resume (its results wait while paused) and delete (its results are
// refused until a rule exists again). The preview is the editor's (RulePreview.tsx).
import { useState } from 'react';
import { useApolloClient, useMutation } from '@apollo/client/react';
import { DeleteRuleMutation, PauseRuleMutation, ResumeRuleMutation, RuleQuery } from '../../ops/rules.ts';
import { errorText } from '../../lib/errors.ts';
import { useI18n } from '../../i18n/index.tsx';
import { useNotice } from '../notices.tsx';
import { ConfirmDialog } from '../ConfirmDialog.tsx';

interface SavedRule {
  paused: boolean;
  pausedAt?: string | null;
}

export function RuleControls({ quizId, rule }: { quizId: string; rule: SavedRule }) {
  const { t, when } = useI18n();
  const notice = useNotice();
  const client = useApolloClient();
  const [pause, pausing] = useMutation(PauseRuleMutation, { variables: { quizId } });
  const [resume, resuming] = useMutation(ResumeRuleMutation, { variables: { quizId } });
  const [remove, removing] = useMutation(DeleteRuleMutation, { variables: { quizId } });
  const [confirming, setConfirming] = useState(false);
  const failed = pausing.error ?? resuming.error ?? removing.error;
  const busy = pausing.loading || resuming.loading || removing.loading;

  return (
    <section className="card stack" aria-labelledby="rule-controls">
      <h3 id="rule-controls" className="visually-hidden">
        {t('rule.pause')}
      </h3>
      {rule.paused && (
        <p className="banner warning" role="status" data-testid="rule-paused">
          {t('rule.paused', { when: when(rule.pausedAt) })}
        </p>
      )}
      <div className="row">
        {rule.paused ? (
          <button type="button" disabled={busy} onClick={() => void resume().catch(() => {})}>
            {t('rule.resume')}
          </button>
        ) : (
          <button type="button" disabled={busy} onClick={() => void pause().catch(() => {})}>
            {t('rule.pause')}
          </button>
        )}
        <button type="button" className="danger" disabled={busy} onClick={() => setConfirming(true)}>
          {t('rule.delete')}
        </button>
      </div>
      {failed && (
        <p className="banner error" role="alert">
          {errorText(failed)}
        </p>
      )}
      <ConfirmDialog
        open={confirming}
        title={t('rule.deleteTitle', { quizId })}
        confirmLabel={t('rule.delete')}
        onCancel={() => setConfirming(false)}
        onConfirm={() => {
          setConfirming(false);
          void remove()
            .then(() => {
              client.writeQuery({ query: RuleQuery, variables: { quizId }, data: { rule: null } });
              notice(t('rule.deleted'), 'success');
            })
            .catch(() => {});
        }}
      >
        <p>{t('rule.deleteBody')}</p>
      </ConfirmDialog>
    </section>
  );
}
