// Pick a quiz (its id comes from the quiz platform; the URL carries it: /admin/rules?quiz=…),
// then edit its rule.
import { useState, type FormEvent } from 'react';
import { hrefOf, navigate } from '../../lib/router.ts';
import { useI18n } from '../../i18n/index.tsx';
import { RuleEditor } from './RuleEditor.tsx';

const RECENT_KEY = 'quiz-admin.recent-quizzes';

export function recentQuizzes(): string[] {
  try {
    // A Set: two tabs remembering at once can store an id twice, and the links are keyed by id.
    return [...new Set(JSON.parse(localStorage.getItem(RECENT_KEY) ?? '[]') as string[])].slice(0, 8);
  } catch {
    return [];
  }
}

export function rememberQuiz(quizId: string) {
  try {
    localStorage.setItem(RECENT_KEY, JSON.stringify([quizId, ...recentQuizzes().filter((q) => q !== quizId)].slice(0, 8)));
  } catch {
    // storage off
  }
}

export function QuizPicker({ screen, quizId, optional }: { screen: 'rules' | 'deliveries'; quizId: string; optional?: boolean }) {
  const { t } = useI18n();
  const [value, setValue] = useState(quizId);
  const open = (event: FormEvent) => {
    event.preventDefault();
    const id = value.trim();
    if (id) rememberQuiz(id);
    navigate(screen, id ? { quiz: id } : {});
  };
  const recent = recentQuizzes().filter((q) => q !== quizId);
  return (
    <form className="row card" onSubmit={open} role="search">
      <div className="input">
        <label htmlFor={`${screen}-quiz`}>{optional ? t('quiz.filter') : t('quiz.id')}</label>
        <input id={`${screen}-quiz`} value={value} onChange={(e) => setValue(e.target.value)} placeholder="quiz-demo" />
      </div>
      <button type="submit">{t('quiz.open')}</button>
      {recent.length > 0 && (
        <p className="hint">
          {t('quiz.recent')}{' '}
          {recent.map((q) => (
            <a
              key={q}
              href={hrefOf(screen, { quiz: q })}
              onClick={(e) => {
                e.preventDefault();
                setValue(q);
                navigate(screen, { quiz: q });
              }}
            >
              {q}
            </a>
          ))}
        </p>
      )}
    </form>
  );
}

export function RulesScreen({ quizId, connected }: { quizId: string; connected: boolean }) {
  const { t } = useI18n();
  if (!connected) return <p className="banner info">{t('catalogue.notConnected')}</p>;
  return (
    <div className="stack">
      <QuizPicker screen="rules" quizId={quizId} key={quizId} />
      {quizId ? <RuleEditor quizId={quizId} key={quizId} /> : <p className="hint">{t('quiz.pick')}</p>}
    </div>
  );
}
