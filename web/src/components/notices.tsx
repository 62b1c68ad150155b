// Short-lived messages (sync finished, connected, saved) in one polite live region.
import { createContext, useCallback, useContext, useState, type ReactNode } from 'react';
import { useI18n } from '../i18n/index.tsx';

export type NoticeKind = 'info' | 'success' | 'warning' | 'error';
interface Notice {
  id: number;
  kind: NoticeKind;
  text: string;
}

const NoticeContext = createContext<(text: string, kind?: NoticeKind) => void>(() => {});
let nextId = 1;

export function NoticeProvider({ children }: { children: ReactNode }) {
  const { t } = useI18n();
  const closeLabel = t('common.close');
  const [notices, setNotices] = useState<Notice[]>([]);
  const push = useCallback((text: string, kind: NoticeKind = 'info') => {
    const id = nextId++;
    setNotices((list) => [...list.slice(-1), { id, kind, text }]);
    setTimeout(() => setNotices((list) => list.filter((n) => n.id !== id)), 8_000);
  }, []);
  return (
    <NoticeContext.Provider value={push}>
      {children}
      <div className="notices" role="status" aria-live="polite">
        {notices.map((n) => (
          <p key={n.id} className={`notice ${n.kind}`} data-testid="notice">
            {n.text}
            <button type="button" className="link" aria-label={closeLabel} onClick={() => setNotices((list) => list.filter((x) => x.id !== n.id))}>
              ×
            </button>
          </p>
        ))}
      </div>
    </NoticeContext.Provider>
  );
}

export const useNotice = () => useContext(NoticeContext);
