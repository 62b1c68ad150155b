import { useI18n } from '../i18n/index.tsx';

export function LangToggle() {
  const { lang, setLang, t } = useI18n();
  return (
    <div className="lang" role="group" aria-label={t('lang.label')}>
      <button type="button" aria-pressed={lang === 'ru'} onClick={() => setLang('ru')} lang="ru">
        Рус
      </button>
      <button type="button" aria-pressed={lang === 'en'} onClick={() => setLang('en')} lang="en">
        Eng
      </button>
    </div>
  );
}
