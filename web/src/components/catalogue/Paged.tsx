import type { ReactNode } from 'react';
import { useI18n } from '../../i18n/index.tsx';

/** The foot of a paged list: how many of how many, and "load more". */
export function PagedFoot({ shown, total, hasMore, loading, onMore }: { shown: number; total: number; hasMore: boolean; loading: boolean; onMore(): void }) {
  const { t } = useI18n();
  return (
    <div className="row between">
      <span className="hint">{t('catalogue.shown', { shown, total })}</span>
      {hasMore && (
        <button type="button" onClick={onMore} disabled={loading}>
          {loading ? t('common.loading') : t('catalogue.more')}
        </button>
      )}
    </div>
  );
}

export function SearchBox({ id, value, onChange, label }: { id: string; value: string; onChange(v: string): void; label: string }) {
  return (
    <div className="search">
      <label htmlFor={id}>{label}</label>
      <input id={id} type="search" value={value} onChange={(e) => onChange(e.target.value)} />
    </div>
  );
}

export const matches = (query: string, ...texts: (string | number | null | undefined)[]) => {
  const q = query.trim().toLowerCase();
  return !q || texts.some((x) => x != null && String(x).toLowerCase().includes(q));
};

export function Section({ id, title, children }: { id: string; title: string; children: ReactNode }) {
  return (
    <section className="card stack" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {children}
    </section>
  );
}
