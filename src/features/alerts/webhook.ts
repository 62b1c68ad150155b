// The owner's alert webhook: set (URL checked, secret encrypted at rest), removed, read.
import { badInput } from '../../platform/errors.ts';
import type { Services } from '../../platform/services.ts';
import type { AlertWebhook } from '../../generated/prisma/client.ts';
import { encryptAlertSecret } from './store.ts';
import { alertUrlProblem } from './url.ts';

export interface AlertWebhookInput {
  url: string;
  secret: string;
}

export async function setAlertWebhook(services: Pick<Services, 'db' | 'config'>, quizAccountId: string, input: AlertWebhookInput): Promise<AlertWebhook> {
  const url = input.url.trim();
  const problem = alertUrlProblem(url, services.config.isProduction);
  if (problem) throw badInput(`The alert webhook URL ${problem}`, ['input', 'url']);
  if (input.secret.length < 16 || input.secret.length > 256) throw badInput('The alert webhook secret must be 16 to 256 characters', ['input', 'secret']);
  const secretEnc = encryptAlertSecret(services.config, quizAccountId, input.secret);
  return services.db.alertWebhook.upsert({ where: { quizAccountId }, create: { quizAccountId, url, secretEnc }, update: { url, secretEnc } });
}

/** Removes the webhook; alerts still waiting are given up by the sender. True when there was one. */
export async function removeAlertWebhook(services: Pick<Services, 'db'>, quizAccountId: string): Promise<boolean> {
  const { count } = await services.db.alertWebhook.deleteMany({ where: { quizAccountId } });
  return count > 0;
}

/** Queues an `alert.test` to the tenant's webhook (through the outbox, like every alert). */
export async function sendTestAlert(services: Pick<Services, 'db'>, quizAccountId: string): Promise<string> {
  const rows = await services.db.$queryRaw<{ id: string }[]>`
    INSERT INTO alert_outbox (quiz_account_id, kind, payload)
    SELECT quiz_account_id, 'alert.test', '{}'::jsonb FROM alert_webhook WHERE quiz_account_id = ${quizAccountId}
    RETURNING id::text AS id`;
  if (!rows[0]) throw badInput('No alert webhook is set: call setAlertWebhook first');
  return rows[0].id;
}
