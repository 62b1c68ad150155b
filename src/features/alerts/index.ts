// Alerts to the owner's own webhook when no page is open (README "Alerts").
export { alertBackoff, alertBody, startAlertSender } from './sender.ts';
export type { AlertSender, AlertSenderOptions, AlertStore, ClaimedAlert, PostAlert } from './sender.ts';
export { createAlertStore } from './store.ts';
export { createAlertPost } from './post.ts';
export { ALERT_ID_HEADER, ALERT_KIND_HEADER, SIGNATURE_HEADER, signAlert, verifyAlertSignature } from './sign.ts';
export { alertUrlProblem, assertPublicDestination, isPrivateAddress } from './url.ts';
export { removeAlertWebhook, sendTestAlert, setAlertWebhook } from './webhook.ts';
export { startAlerts } from './start.ts';
