// What a sample result would send to amoCRM under the rule as the editor holds it — saved or not:
// previewQuizRule's draft is the form's input, so an edit is previewed before it is saved. Nothing
// is sent or saved; a draft the server refuses shows the save's own error.
import { useState } from 'react';
import { useLazyQuery } from '@apollo/client/react';
import type { RuleInput } from '../../gql/graphql.ts';
import { PreviewRuleQuery } from '../../ops/rules.ts';
import { errorText } from '../../lib/errors.ts';
import { useI18n } from '../../i18n/index.tsx';

const sampleOf = (quizId: string, questionIds: string[]) =>
  JSON.stringify(
    {
      resultId: 'preview',
      quizId,
      contact: { name: 'Анна', phone: '+7 900 000-00-00' },
      answers: questionIds.filter((q) => q.trim() !== '').map((questionId) => ({ questionId, values: ['42'] })),
    },
    null,
    2,
  );

export function RulePreview({ quizId, draft, questionIds }: { quizId: string; draft: RuleInput; questionIds: string[] }) {
  const { t } = useI18n();
  const [sample, setSample] = useState(() => sampleOf(quizId, questionIds));
  const [badJson, setBadJson] = useState(false);
  const [preview, previewed] = useLazyQuery(PreviewRuleQuery, { fetchPolicy: 'network-only' });

  const run = () => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(sample);
    } catch {
      setBadJson(true);
      return;
    }
    setBadJson(false);
    void preview({ variables: { quizId, sample: parsed as never, draft } }).catch(() => {});
  };
  const result = previewed.data?.previewQuizRule;

  return (
    <section className="card stack" aria-label={t('rule.preview')}>
      <details>
        <summary>{t('rule.preview')}</summary>
        <div className="stack">
          <label htmlFor="rule-preview-sample">{t('rule.previewHint')}</label>
          <textarea id="rule-preview-sample" rows={8} value={sample} onChange={(e) => setSample(e.target.value)} />
          <div className="row">
            <button type="button" onClick={run} disabled={previewed.loading}>
              {t('rule.previewRun')}
            </button>
          </div>
          {badJson && <p className="banner error">{t('rule.previewBadJson')}</p>}
          {previewed.error && (
            <p className="banner error" data-testid="rule-preview-error">
              {errorText(previewed.error)}
            </p>
          )}
          {previewed.called && !previewed.loading && !previewed.error && !result && <p className="hint">{t('rule.previewNone')}</p>}
          {result && !previewed.error && (
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
    </section>
  );
}
