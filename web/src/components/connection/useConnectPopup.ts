// Connecting amoCRM in a popup: the gateway's authorize link (mode=post_message) opens amoCRM's
// consent page; after the answer amoCRM redirects the popup to the gateway's /webhook/create,
// whose page posts { type: 'amocrm:connect', ok, message } back to this window and closes.
import { useEffect, useEffectEvent, useRef, useState } from 'react';
import { useMutation } from '@apollo/client/react';
import { ConnectMutation } from '../../ops/account.ts';
import { errorText } from '../../lib/errors.ts';

export type ConnectState =
  | { phase: 'idle' }
  | { phase: 'waiting' }
  /** the browser blocked the popup: the page offers the link to open by hand */
  | { phase: 'blocked'; link: string }
  | { phase: 'done'; ok: boolean; message: string }
  | { phase: 'failed'; message: string };

const POPUP_FEATURES = 'popup,width=560,height=720';

export function useConnectPopup(onConnected: () => void) {
  const [state, setState] = useState<ConnectState>({ phase: 'idle' });
  const [connect] = useMutation(ConnectMutation);
  const popup = useRef<Window | null>(null);
  // The listener below is added once; this calls the caller's latest callback.
  const connected = useEffectEvent(onConnected);

  useEffect(() => {
    const listener = (event: MessageEvent) => {
      // The result page is the gateway's own (same origin as this page), in our popup.
      if (event.origin !== window.location.origin || (popup.current && event.source !== popup.current)) return;
      const data = event.data as { type?: unknown; ok?: unknown; message?: unknown } | null;
      if (data?.type !== 'amocrm:connect') return;
      popup.current = null;
      setState({ phase: 'done', ok: data.ok === true, message: typeof data.message === 'string' ? data.message : '' });
      if (data.ok === true) connected();
    };
    window.addEventListener('message', listener);
    return () => window.removeEventListener('message', listener);
  }, []);

  // A popup closed without an answer: stop waiting.
  useEffect(() => {
    if (state.phase !== 'waiting') return;
    const timer = setInterval(() => {
      if (popup.current?.closed) {
        popup.current = null;
        setState((s) => (s.phase === 'waiting' ? { phase: 'idle' } : s));
      }
    }, 500);
    return () => clearInterval(timer);
  }, [state.phase]);

  async function start() {
    // Opened in the click itself (a popup opened after an await is blocked); pointed at amoCRM once the link is there.
    const win = window.open('about:blank', 'amocrm-connect', POPUP_FEATURES);
    popup.current = win;
    setState({ phase: 'waiting' });
    try {
      const { data } = await connect();
      const link = data?.connectAccount.link;
      if (!link) throw new Error('no link');
      if (win && !win.closed) win.location.href = link;
      else setState({ phase: 'blocked', link });
    } catch (error) {
      win?.close();
      popup.current = null;
      setState({ phase: 'failed', message: errorText(error) });
    }
  }

  return { state, start };
}
