/**
 * Exactly once on any account: before a Delivery that may have reached amoCRM is sent again, the
 * lead it may have created is looked for by a deterministic read, never by full-text search
 * (amoCRM's search lags behind writes and need not index api-only fields).
 *
 * Two ways to recognise the lead, chosen per account (`AmoAccount.reconcileMode`):
 * - RESULT_FIELD: the api-only lead field QUIZ_RESULT_ID carries the result id. Creating that
 *   field needs administrator rights and room under the account's field limit.
 * - LEAD_CONTENT: when amoCRM refuses the field (403, the limit, 404, 402), the lead is recognised
 *   by what was sent (`Delivery.sentLead`): its name, price and every field value sent. A lead
 *   another Delivery already owns is never adopted, so two identical results get one lead each.
 *   The refusal is re-checked daily (rights or room may come back).
 *
 * The read: `GET /api/v4/leads` filtered by `created_at` from the first send (minus a margin for
 * clock skew) to now (plus the margin), every page, with contacts. One read serves every
 * Delivery of a claimed batch.
 */
import type { Services } from '../../platform/services.ts';
import type { DeliveryRuntime } from './options.ts';
import { amoId } from '../../platform/amo-ids.ts';
import type { ReconcileMode } from '../../generated/prisma/enums.ts';
import {
  AmoError,
  AmoHttpError,
  AmoNotFoundError,
  AmoPaymentRequiredError,
  AmoValidationError,
  type AmoClient,
  type AmoComplexLeadInput,
  type AmoCreatedWindow,
  type AmoCustomFieldValue,
  type AmoLead,
} from '../../platform/amo/index.ts';
import { RESULT_FIELD_CODE } from './payload.ts';

/** How an account's deliveries are reconciled, and the result field when there is one. */
export interface ReconcileSetup {
  mode: ReconcileMode;
  resultFieldId: number | null;
}

/** A refused field creation is re-tried after this long. */
const RECHECK_MS = 24 * 60 * 60_000;
/** amoCRM's clock and ours may differ; the window is widened by this on both sides. */
export const WINDOW_MARGIN_MS = 10 * 60_000;

function refusal(err: unknown): string | null {
  if (err instanceof AmoValidationError) {
    const detail =
      err.errors
        .map((e) => e.detail || e.code)
        .filter(Boolean)
        .join('; ') ||
      err.detail ||
      'validation error';
    return `amoCRM refused to create it (${detail}; e.g. the account's limit of custom fields is reached)`;
  }
  if (err instanceof AmoPaymentRequiredError) return 'amoCRM refused to create it (402: not available on this plan)';
  if (err instanceof AmoNotFoundError) return 'amoCRM answered 404 to creating it';
  if (err instanceof AmoHttpError && err.status === 403) return 'amoCRM refused to create it (403: the connected amoCRM user is not an administrator)';
  if (err instanceof AmoHttpError && err.status !== undefined && err.status >= 400 && err.status < 500 && err.status !== 429) {
    return `amoCRM refused to create it (${err.status})`;
  }
  return null;
}

const contentNote = (why: string) =>
  `Leads are recognised by their content: the api-only lead field ${RESULT_FIELD_CODE} could not be created — ${why}. ` +
  'Connecting amoCRM as an administrator lets the gateway use the field.';

/**
 * The account's reconcile setup: its stored result field; else a field with the code found in
 * amoCRM; else one created now; else, when amoCRM refuses, LEAD_CONTENT with the reason. Errors
 * that say nothing about the field (429, 5xx, stale tokens) are thrown: the batch waits.
 * No lock is held while amoCRM answers: the first field id stored wins, every process uses it.
 */
export async function ensureReconcileSetup(services: Pick<Services, 'db' | 'logger'>, client: AmoClient, accountId: string, signal?: AbortSignal): Promise<ReconcileSetup> {
  const { db } = services;
  // plain SQL: read once per claimed batch, on the hot path
  const [row] = await db.$queryRaw<{ resultFieldId: bigint | null; reconcileMode: ReconcileMode | null; reconcileCheckedAt: Date | null }[]>`
    SELECT result_field_id AS "resultFieldId", reconcile_mode::text AS "reconcileMode", reconcile_checked_at AS "reconcileCheckedAt"
    FROM amo_account WHERE id = ${accountId}::uuid`;
  if (row?.resultFieldId) {
    if (row.reconcileMode !== 'RESULT_FIELD')
      await db.amoAccount.update({ where: { id: accountId }, data: { reconcileMode: 'RESULT_FIELD', reconcileNote: null, reconcileCheckedAt: new Date() } });
    return { mode: 'RESULT_FIELD', resultFieldId: amoId(row.resultFieldId) };
  }
  if (row?.reconcileMode === 'LEAD_CONTENT' && row.reconcileCheckedAt && Date.now() - row.reconcileCheckedAt.getTime() < RECHECK_MS) {
    return { mode: 'LEAD_CONTENT', resultFieldId: null };
  }
  const existing = (await client.listCustomFields('leads', { signal })).filter((f) => f.code === RESULT_FIELD_CODE).sort((a, b) => a.id - b.id)[0];
  let id = existing?.id;
  if (!id) {
    try {
      id = (await client.createCustomFields('leads', [{ name: 'Quiz result ID', type: 'text', code: RESULT_FIELD_CODE, is_api_only: true }], { signal }))[0]?.id;
    } catch (err) {
      const why = refusal(err);
      if (!why) throw err;
      await db.amoAccount.update({ where: { id: accountId }, data: { reconcileMode: 'LEAD_CONTENT', reconcileNote: contentNote(why), reconcileCheckedAt: new Date() } });
      services.logger.warn({ accountId, why }, 'result-id field refused: deliveries are reconciled by lead content');
      return { mode: 'LEAD_CONTENT', resultFieldId: null };
    }
  }
  if (!id) throw new AmoError('amoCRM did not answer the id of the created result-id field', { accountId });
  await db.$executeRaw`UPDATE amo_account SET result_field_id = ${id} WHERE id = ${accountId}::uuid AND result_field_id IS NULL`;
  const winner = (await db.amoAccount.findUnique({ where: { id: accountId }, select: { resultFieldId: true } }))?.resultFieldId;
  if (!winner) throw new AmoError('the result-id field could not be stored', { accountId });
  await db.amoAccount.update({ where: { id: accountId }, data: { reconcileMode: 'RESULT_FIELD', reconcileNote: null, reconcileCheckedAt: new Date() } });
  return { mode: 'RESULT_FIELD', resultFieldId: amoId(winner) };
}

/** Setups in flight per runtime and account: the passes of one worker run them one after another. */
const setups = new WeakMap<DeliveryRuntime, Map<string, Promise<unknown>>>();

/**
 * `ensureReconcileSetup` of the account, one at a time within this worker: passes side by side
 * (passesInFlight) would otherwise both create the result-id field of a new account, and the
 * one amoCRM refuses as a duplicate would fall back to LEAD_CONTENT. The next one reads the field stored.
 */
export function reconcileSetupOf(rt: DeliveryRuntime, client: AmoClient, accountId: string): Promise<ReconcileSetup> {
  let inFlight = setups.get(rt);
  if (!inFlight) setups.set(rt, (inFlight = new Map()));
  const map = inFlight;
  const before = map.get(accountId) ?? Promise.resolve();
  const mine = before.catch(() => {}).then(() => ensureReconcileSetup(rt.services, client, accountId, rt.signal));
  map.set(accountId, mine);
  void mine
    .catch(() => {})
    .then(() => {
      if (map.get(accountId) === mine) map.delete(accountId);
    });
  return mine;
}

/** The list filter of the reconcile read: created from the earliest send to now, widened by the margin. */
export function createdWindow(sent: Date[], now = new Date()): AmoCreatedWindow {
  const since = Math.min(...sent.map((d) => d.getTime()));
  return { from: Math.floor((since - WINDOW_MARGIN_MS) / 1000), to: Math.ceil((now.getTime() + WINDOW_MARGIN_MS) / 1000) };
}

/** One Delivery to confirm: what was sent, and since when. */
export interface ReconcileTarget {
  deliveryId: string;
  resultId: string;
  /** the first send (or, for rows without it, the Delivery's creation) */
  since: Date;
  /** the lead as last sent; null for rows sent before it was recorded */
  sentLead: AmoComplexLeadInput | null;
}

const valueKey = (v: { value?: unknown; enum_id?: unknown; enum_code?: unknown }) =>
  v.enum_id !== undefined && v.enum_id !== null ? `e${String(v.enum_id)}` : `v${typeof v.value === 'object' ? JSON.stringify(v.value) : String(v.value ?? '')}`;

/** Every value sent is on the entity (amoCRM may add others, e.g. defaults); leads and customers alike. */
export function carriesValues(sent: AmoCustomFieldValue[], entity: { custom_fields_values?: AmoCustomFieldValue[] | null }): boolean {
  const have = new Map<number, Set<string>>();
  for (const f of entity.custom_fields_values ?? []) have.set(Number(f.field_id), new Set((f.values ?? []).map(valueKey)));
  return sent.every((e) => {
    const got = have.get(Number(e.field_id));
    return got !== undefined && e.values.every((v) => got.has(valueKey(v)));
  });
}

const carriesResultId = (lead: AmoLead, fieldId: number, marker: string) =>
  (lead.custom_fields_values ?? []).some((f) => Number(f.field_id) === fieldId && (f.values ?? []).some((v) => String(v.value) === marker));

/** The value the lead was sent with in the result-id field (`resultMarker`, or a bare result id from before it), if it was. */
const sentMarker = (sent: AmoComplexLeadInput, fieldId: number) => {
  const value = (sent.custom_fields_values ?? []).find((e) => Number(e.field_id) === fieldId)?.values[0]?.value;
  return value === undefined || value === null ? undefined : String(value);
};

/**
 * Whether `lead` is the one `target` created: by the result-id field's value as it was sent
 * (per tenant; a Delivery sent before its `sentLead` was recorded carried the bare result id),
 * else by content.
 */
export function isLeadOf(lead: AmoLead, target: ReconcileTarget, resultFieldId: number | null): boolean {
  const marker = target.sentLead ? (resultFieldId !== null ? sentMarker(target.sentLead, resultFieldId) : undefined) : target.resultId;
  if (resultFieldId !== null && marker !== undefined && carriesResultId(lead, resultFieldId, marker)) return true;
  const sent = target.sentLead;
  if (!sent) return false;
  const sentValues = sent.custom_fields_values ?? [];
  // sent with the result field but the lead does not carry it: not ours
  if (resultFieldId !== null && sentValues.some((e) => Number(e.field_id) === resultFieldId)) return false;
  if (lead.name !== sent.name) return false;
  if (sent.price !== undefined && Number(lead.price ?? 0) !== Number(sent.price)) return false;
  return carriesValues(sentValues, lead);
}

/**
 * The leads of `targets` that exist in amoCRM (delivery id → lead), by one windowed read. A lead
 * owned by another Delivery (`owned`) or matched to an earlier target is skipped; of several
 * candidates the oldest wins.
 */
export async function findSentLeads(
  client: AmoClient,
  setup: ReconcileSetup,
  targets: ReconcileTarget[],
  owned: (leadIds: number[]) => Promise<Set<number>>,
  options: { signal?: AbortSignal; now?: Date } = {},
): Promise<Map<string, AmoLead>> {
  const found = new Map<string, AmoLead>();
  if (targets.length === 0) return found;
  const leads = await client.listLeads(
    createdWindow(
      targets.map((t) => t.since),
      options.now,
    ),
    { with: ['contacts'], signal: options.signal },
  );
  const taken = await owned(leads.map((l) => l.id));
  const candidates = leads.filter((l) => !taken.has(l.id)).sort((a, b) => a.id - b.id);
  for (const target of targets) {
    const lead = candidates.find((l) => !taken.has(l.id) && isLeadOf(l, target, setup.resultFieldId));
    if (lead) {
      found.set(target.deliveryId, lead);
      taken.add(lead.id);
    }
  }
  return found;
}
