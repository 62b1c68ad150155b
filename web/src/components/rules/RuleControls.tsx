// A saved rule's controls: pause / resume (its results wait while paused), delete (its results are
// refused until a rule exists again), and a preview of what a sample result would send (nothing is sent).
import { useState } from 'react';
import { useApolloClient, useLazyQuery, useMutation } from '@apollo/client/react';
import { DeleteRuleMutation, PauseRuleMutation, PreviewRuleQuery, ResumeRuleMutation, RuleQuery } from '../../ops/rules.ts';
import { errorText } from '../../lib/errors.ts';
import { useI18n } from '../../i18n/index.tsx';
import { useNotice } from '../notices.tsx';
import { ConfirmDialog } from '../ConfirmDialog.tsx';

interface SavedRule {
  paused: boolean;
  pausedAt?: string | null;
  fieldsRule: { lead: { questionId: string }[] };
}

const sampleOf = (quizId: string, rule: SavedRule) =>
  JSON.stringify(
    {
      resultId: 'preview',
      quizId,
      contact: { name: 'Анна', phone: '+7 900 000-00-00' },
      answers: rule.fieldsRule.lead.map((m) => ({ questionId: m.questionId, values: ['42'] })),
    },
    null,
    2,
  );

export function RuleControls({ quizId, rule }: { quizId: string; rule: SavedRule }) {
  const { t, when } = useI18n();
  const notice = useNotice();
  const client = useApolloClient();
  const [pause, pausing] = useMutation(PauseRuleMutation, { variables: { quizId } });
  const [resume, resuming] = useMutation(ResumeRuleMutation, { variables: { quizId } });
  const [remove, removing] = useMutation(DeleteRuleMutation, { variables: { quizId } });
  const [confirming, setConfirming] = useState(false);
  const [sample, setSample] = useState(() => sampleOf(quizId, rule));
  const [badJson, setBadJson] = useState(false);
  const [preview, previewed] = useLazyQuery(PreviewRuleQuery, { fetchPolicy: 'network-only' });
  const failed = pausing.error ?? resuming.error ?? removing.error;
  const busy = pausing.loading || resuming.loading || removing.loading;

  const runPreview = () => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(sample);
    } catch {
      setBadJson(true);
      return;
    }
    setBadJson(false);
    void preview({ variables: { quizId, sample: parsed as never } }).catch(() => {});
  };
  const result = previewed.data?.previewQuizRule;

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
      <details>
        <summary>{t('rule.preview')}</summary>
        <div className="stack">
          <label htmlFor="rule-preview-sample">{t('rule.previewHint')}</label>
          <textarea id="rule-preview-sample" rows={8} value={sample} onChange={(e) => setSample(e.target.value)} />
          <div className="row">
            <button type="button" onClick={runPreview} disabled={previewed.loading}>
              {t('rule.previewRun')}
            </button>
          </div>
          {badJson && <p className="banner error">{t('rule.previewBadJson')}</p>}
          {previewed.error && <p className="banner error">{errorText(previewed.error)}</p>}
          {previewed.called && !previewed.loading && !previewed.error && !result && <p className="hint">{t('rule.previewNone')}</p>}
          {result && (
            <div className="stack" data-testid="rule-preview">
              {result.warnings.length > 0 && (
                <ul className="banner warning">
                  {result.warnings.map((w) => (
                    <li key={w}>{w}</li>
                  ))}
                </ul>
              )}
              <pre>{result.lead}</pre>
              <pre>{result.note}</pre>
            </div>
          )}
        </div>
      </details>
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
