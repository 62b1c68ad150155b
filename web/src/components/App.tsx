// Signed out: the sign-in form. Signed in: one gateway connection (HTTP + websocket) for the token.
import { useCallback, useEffect, useRef, useState } from 'react';
import { ApolloProvider } from '@apollo/client/react';
import { askEmbedderForToken, listenForEmbedderToken, saveToken, storedToken, takeTokenFromFragment } from '../lib/auth.ts';
import { createGateway, type Gateway, type LiveState } from '../lib/apollo.ts';
import { SignIn } from './SignIn.tsx';
import { Shell } from './Shell.tsx';

export function App() {
  const [token, setToken] = useState<string | null>(() => takeTokenFromFragment() ?? storedToken());
  const [expired, setExpired] = useState(false);

  useEffect(() => saveToken(token), [token]);
  useEffect(
    () =>
      listenForEmbedderToken((next) => {
        setExpired(false);
        setToken(next);
      }),
    [],
  );
  useEffect(() => {
    if (!token) askEmbedderForToken(expired ? 'expired' : 'missing');
  }, [token, expired]);

  const signIn = useCallback((next: string) => {
    setExpired(false);
    setToken(next);
  }, []);
  const signOut = useCallback(() => setToken(null), []);
  const onExpired = useCallback(() => {
    setExpired(true);
    setToken(null);
  }, []);

  if (!token) return <SignIn expired={expired} onToken={signIn} />;
  return <SignedIn key={token} token={token} onSignOut={signOut} onExpired={onExpired} />;
}

function SignedIn({ token, onSignOut, onExpired }: { token: string; onSignOut(): void; onExpired(): void }) {
  const [gateway, setGateway] = useState<Gateway | null>(null);
  const [live, setLive] = useState<LiveState>('connecting');
  const expiredOnce = useRef(false);
  useEffect(() => {
    expiredOnce.current = false;
    const g = createGateway(token, {
      onLiveState: setLive,
      onUnauthenticated: () => {
        if (expiredOnce.current) return;
        expiredOnce.current = true;
        onExpired();
      },
    });
    setGateway(g);
    return () => g.dispose();
  }, [token, onExpired]);
  if (!gateway) return null;
  return (
    <ApolloProvider client={gateway.client}>
      <Shell token={token} live={live} onSignOut={onSignOut} />
    </ApolloProvider>
  );
}
