// "Send a test lead": a sample result for the quiz through submitQuizResult, the same path a
// result from the quiz platform takes. The answers offered are the rule's mapped questions.
import { useState, type FormEvent } from 'react';
import { useMutation, useQuery } from '@apollo/client/react';
import { RuleQuery } from '../../ops/rules.ts';
import { DeliveriesQuery, SubmitResultMutation } from '../../ops/deliveries.ts';
import { errorText } from '../../lib/errors.ts';
import { useI18n } from '../../i18n/index.tsx';
import { useNotice } from '../notices.tsx';

const testResultId = () => `admin-test-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

export function TestLeadForm({ quizId }: { quizId: string }) {
  const { t } = useI18n();
  const notice = useNotice();
  const rule = useQuery(RuleQuery, { variables: { quizId } }).data?.rule;
  const f = rule?.fieldsRule;
  const questions = [...new Set([...(f?.lead ?? []), ...(f?.contact.questions ?? []), ...(f?.company ?? []), ...(f?.customer ?? [])].map((m) => m.questionId))];
  const [contact, setContact] = useState({ name: 'Тест Тестов', phone: '+7 900 000-00-00', email: 'test@example.com' });
  const [answers, setAnswers] = useState<Record<string, string>>({});
  const [utmSource, setUtmSource] = useState('admin-test');
  const [submit, submitting] = useMutation(SubmitResultMutation, { refetchQueries: [DeliveriesQuery] });

  const send = (event: FormEvent) => {
    event.preventDefault();
    const input = {
      resultId: testResultId(),
      quizId,
      leadName: t('test.leadName', { quizId }),
      contact,
      answers: questions.map((q) => ({ questionId: q, title: q, values: [answers[q] ?? ''] })).filter((a) => a.values[0] !== ''),
      utm: utmSource ? [{ key: 'utm_source', value: utmSource }] : [],
    };
    void submit({ variables: { input } })
      .then(() => notice(t('test.sent'), 'info'))
      .catch(() => {});
  };

  return (
    <details className="card">
      <summary>{t('test.title')}</summary>
      <form className="stack" onSubmit={send}>
        {!rule && <p className="banner warning">{t('test.noRule')}</p>}
        <div className="grid2">
          {(['name', 'phone', 'email'] as const).map((key) => (
            <div className="input" key={key}>
              <label htmlFor={`test-${key}`}>{t(`test.${key}`)}</label>
              <input id={`test-${key}`} value={contact[key]} onChange={(e) => setContact({ ...contact, [key]: e.target.value })} />
            </div>
          ))}
          {questions.map((q) => (
            <div className="input" key={q}>
              <label htmlFor={`test-answer-${q}`}>{t('test.answer', { questionId: q })}</label>
              <input id={`test-answer-${q}`} value={answers[q] ?? ''} onChange={(e) => setAnswers({ ...answers, [q]: e.target.value })} />
            </div>
          ))}
          <div className="input">
            <label htmlFor="test-utm">utm_source</label>
            <input id="test-utm" value={utmSource} onChange={(e) => setUtmSource(e.target.value)} />
          </div>
        </div>
        <div className="row">
          <button type="submit" className="primary" disabled={submitting.loading}>
            {t('test.send')}
          </button>
        </div>
        {submitting.error && (
          <p className="banner error" role="alert">
            {errorText(submitting.error)}
          </p>
        )}
      </form>
    </details>
  );
}
