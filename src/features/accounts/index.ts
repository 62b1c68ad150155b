// Accounts: connecting amoCRM (OAuth), disconnecting, amoCRM's disconnect hook. The only way in.
export { completeAuthorization, createAuthorizeLink, disconnectAccount, handleDisconnectHook } from './connect.ts';
export { afterConnect } from './after-connect.ts';
export { oauthResultPage } from './oauth-page.ts';
