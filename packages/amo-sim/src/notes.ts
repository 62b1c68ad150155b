/** POST leads/{id}/notes and the batch leads/notes. */
import type { Note } from './types.ts';
import { isRecord } from './http.ts';
import { validationFailed } from './leads.ts';
import type { ValidationError } from './validate.ts';
import { type ApiContext, type ApiResult, link, requireArray } from './context.ts';

const NOTE_TYPES = ['common', 'call_in', 'call_out', 'service_message', 'message_cashier', 'geolocation', 'sms_in', 'sms_out', 'extended_service_message', 'attachment'];

function noteErrors(n: unknown): ValidationError[] {
  const errors: ValidationError[] = [];
  if (!isRecord(n)) errors.push({ code: 'InvalidType', path: '', detail: 'This value should be of type object.' });
  else {
    if (!NOTE_TYPES.includes(String(n.note_type))) errors.push({ code: 'NotSupportedChoice', path: 'note_type', detail: 'The value you selected is not a valid choice.' });
    if (n.note_type === 'common' && (!isRecord(n.params) || typeof n.params.text !== 'string'))
      errors.push({ code: 'FieldMissing', path: 'params.text', detail: 'This field is missing.' });
  }
  return errors;
}

const noteRequestId = (n: unknown, i: number) => (isRecord(n) && n.request_id !== undefined ? String(n.request_id) : String(i));

/**
 * Stores notes after validating all of them (one bad note rejects the request, nothing stored).
 * `entityOf` gives a note's entity id, or errors when it has none of the account (batch route).
 */
export function addNotes(ctx: ApiContext, entityType: 'leads' | 'contacts', entityOf: (n: unknown) => number | ValidationError[], selfPath: string): ApiResult {
  const list = requireArray(ctx.body);
  const groups: Array<{ request_id: string; errors: ValidationError[] }> = [];
  const entityIds: number[] = [];
  list.forEach((n, i) => {
    const errors = noteErrors(n);
    const entity = entityOf(n);
    if (Array.isArray(entity)) errors.push(...entity);
    else entityIds[i] = entity;
    if (errors.length) groups.push({ request_id: noteRequestId(n, i), errors });
  });
  if (groups.length) throw validationFailed(groups);
  const now = ctx.state.nowSec();
  const created = list.map((raw, i) => {
    const n = raw as Record<string, unknown>;
    const entityId = entityIds[i];
    // every note passed validation, so each has its entity id
    if (entityId === undefined) throw new Error(`amo-sim: note ${i} has no entity id`);
    const note: Note = {
      id: ctx.state.nextId('note'),
      entity_id: entityId,
      entity_type: entityType,
      note_type: String(n.note_type),
      params: structuredClone((n.params ?? {}) as Record<string, unknown>),
      created_by: typeof n.created_by === 'number' ? n.created_by : ctx.auth.userId || ctx.acc.current_user_id,
      created_at: now,
      updated_at: now,
      request_id: noteRequestId(n, i),
    };
    ctx.acc.notes.push(note);
    return { id: note.id, entity_id: entityId, request_id: note.request_id, _links: link(ctx, `/api/v4/${entityType}/${entityId}/notes/${note.id}`) };
  });
  return { status: 200, body: { _links: link(ctx, selfPath), _embedded: { notes: created } } };
}

/** `entity_id` of a batch note: a live lead of the account. */
export function leadOfNote(ctx: ApiContext, n: unknown): number | ValidationError[] {
  const raw = isRecord(n) ? n.entity_id : undefined;
  if (raw === undefined || raw === null) return [{ code: 'FieldMissing', path: 'entity_id', detail: 'This field is missing.' }];
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw <= 0) return [{ code: 'InvalidType', path: 'entity_id', detail: 'This value should be of type int.' }];
  const l = ctx.state.findLead(ctx.acc, raw);
  if (!l) return [{ code: 'NotFound', path: 'entity_id', detail: 'Entity not found.' }];
  return l.id;
}
