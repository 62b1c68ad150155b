import { useState, type FormEvent } from 'react';
import { useI18n } from '../i18n/index.tsx';
import { LangToggle } from './LangToggle.tsx';

/** The bearer token the API takes: pasted here, or handed over by the embedding quiz platform. */
export function SignIn({ expired, onToken }: { expired: boolean; onToken(token: string): void }) {
  const { t } = useI18n();
  const [value, setValue] = useState('');
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const token = value.trim().replace(/^Bearer\s+/i, '');
    if (token) onToken(token);
  };
  return (
    <main className="signin">
      <header className="signin-head">
        <h1>{t('app.title')}</h1>
        <LangToggle />
      </header>
      {expired && (
        <p className="banner error" role="alert">
          {t('signin.expired')}
        </p>
      )}
      <form onSubmit={submit} className="card stack">
        <label htmlFor="token">{t('signin.label')}</label>
        <textarea id="token" rows={4} value={value} onChange={(e) => setValue(e.target.value)} spellCheck={false} autoComplete="off" placeholder="eyJhbGciOi…" />
        <p className="hint">{t('signin.hint')}</p>
        <div>
          <button type="submit" className="primary" disabled={!value.trim()}>
            {t('signin.submit')}
          </button>
        </div>
      </form>
    </main>
  );
}
