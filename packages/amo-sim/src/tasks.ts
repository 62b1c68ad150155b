/**
 * `/api/v4/tasks`: tasks with a responsible user and a deadline (`complete_till`, unix seconds),
 * optionally on a lead, contact, company or customer (amoCRM's tasks-api). POST adds up to 50
 * (validated all first: one bad task rejects the request, nothing stored); GET filters by
 * id, entity (entity_id needs entity_type), responsible, type and completion, pages by 250 at most,
 * and answers 204 when nothing matches.
 */
import type { Task, TaskType } from './types.ts';
import { isRecord, problemError } from './http.ts';
import { checkInt, checkResponsible, validationFailed } from './leads.ts';
import { intList } from './search.ts';
import type { ValidationError } from './validate.ts';
import { type ApiContext, type ApiResult, link, paginate, requireArray } from './context.ts';

export const STANDARD_TASK_TYPES: TaskType[] = [
  { id: 1, name: 'Звонок', color: null, icon_id: null, code: 'FOLLOW_UP' },
  { id: 2, name: 'Встреча', color: null, icon_id: null, code: 'MEETING' },
];
const TASK_ENTITIES = ['leads', 'contacts', 'companies', 'customers'] as const;
type TaskEntity = (typeof TASK_ENTITIES)[number];

export const taskTypesOf = (ctx: ApiContext): TaskType[] => [...STANDARD_TASK_TYPES, ...(ctx.acc.taskTypes ?? [])];

function entityExists(ctx: ApiContext, type: TaskEntity, id: number): boolean {
  const a = ctx.acc;
  if (type === 'leads') return ctx.state.findLead(a, id) !== undefined;
  if (type === 'contacts') return a.contacts.some((c) => c.id === id);
  if (type === 'companies') return a.companies.some((c) => c.id === id);
  return a.customers.some((c) => c.id === id);
}

function taskErrors(ctx: ApiContext, t: unknown): ValidationError[] {
  const errors: ValidationError[] = [];
  if (!isRecord(t)) return [{ code: 'InvalidType', path: '', detail: 'This value should be of type object.' }];
  if (t.text === undefined || t.text === null) errors.push({ code: 'FieldMissing', path: 'text', detail: 'This field is missing.' });
  else if (typeof t.text !== 'string') errors.push({ code: 'InvalidType', path: 'text', detail: 'This value should be of type string.' });
  else if (t.text.trim() === '') errors.push({ code: 'NotBlank', path: 'text', detail: 'This value should not be blank.' });
  if (t.complete_till === undefined || t.complete_till === null) errors.push({ code: 'FieldMissing', path: 'complete_till', detail: 'This field is missing.' });
  else if (checkInt(t.complete_till, 'complete_till', errors) && (t.complete_till as number) <= 0)
    errors.push({ code: 'GreaterThan', path: 'complete_till', detail: 'This value should be greater than 0.' });
  if (t.task_type_id !== undefined && t.task_type_id !== null && checkInt(t.task_type_id, 'task_type_id', errors) && !taskTypesOf(ctx).some((x) => x.id === t.task_type_id))
    errors.push({ code: 'NotSupportedChoice', path: 'task_type_id', detail: 'The value you selected is not a valid choice.' });
  if (t.responsible_user_id !== undefined) checkResponsible(ctx.acc, t.responsible_user_id, 'responsible_user_id', errors);
  for (const k of ['duration', 'created_by', 'updated_by', 'created_at', 'updated_at'] as const) if (t[k] !== undefined) checkInt(t[k], k, errors);
  if (t.is_completed !== undefined && typeof t.is_completed !== 'boolean') errors.push({ code: 'InvalidType', path: 'is_completed', detail: 'This value should be of type bool.' });
  const hasType = t.entity_type !== undefined && t.entity_type !== null;
  const hasId = t.entity_id !== undefined && t.entity_id !== null;
  if (hasType && !TASK_ENTITIES.includes(t.entity_type as TaskEntity))
    errors.push({ code: 'NotSupportedChoice', path: 'entity_type', detail: 'The value you selected is not a valid choice.' });
  else if (hasId && !hasType) errors.push({ code: 'FieldMissing', path: 'entity_type', detail: 'This field is missing.' });
  else if (hasType && !hasId) errors.push({ code: 'FieldMissing', path: 'entity_id', detail: 'This field is missing.' });
  else if (hasId && checkInt(t.entity_id, 'entity_id', errors) && !entityExists(ctx, t.entity_type as TaskEntity, t.entity_id as number))
    errors.push({ code: 'NotFound', path: 'entity_id', detail: 'Entity not found.' });
  return errors;
}

const requestIdOf = (t: unknown, i: number) => (isRecord(t) && t.request_id !== undefined ? String(t.request_id) : String(i));

export function renderTask(ctx: ApiContext, t: Task) {
  const { request_id: _request, ...rest } = t;
  return { ...rest, _links: link(ctx, `/api/v4/tasks/${t.id}`) };
}

/** POST /api/v4/tasks */
export function addTasks(ctx: ApiContext): ApiResult {
  const list = requireArray(ctx.body);
  const groups: Array<{ request_id: string; errors: ValidationError[] }> = [];
  list.forEach((t, i) => {
    const errors = taskErrors(ctx, t);
    if (errors.length) groups.push({ request_id: requestIdOf(t, i), errors });
  });
  if (groups.length) throw validationFailed(groups);
  const now = ctx.state.nowSec();
  const author = ctx.auth.userId || ctx.acc.current_user_id;
  const created = list.map((raw, i) => {
    const t = raw as Record<string, unknown>;
    const num = (v: unknown, d: number) => (typeof v === 'number' ? v : d);
    const task: Task = {
      id: ctx.state.nextId('task'),
      created_by: num(t.created_by, author),
      updated_by: num(t.updated_by, author),
      created_at: num(t.created_at, now),
      updated_at: num(t.updated_at, now),
      // amoCRM gives a task without one to the user the token acts for
      responsible_user_id: num(t.responsible_user_id, author),
      group_id: 0,
      entity_id: typeof t.entity_id === 'number' ? t.entity_id : null,
      entity_type: typeof t.entity_type === 'string' ? (t.entity_type as TaskEntity) : null,
      duration: num(t.duration, 0),
      is_completed: t.is_completed === true,
      task_type_id: num(t.task_type_id, 1),
      text: String(t.text),
      result: isRecord(t.result) && typeof t.result.text === 'string' ? { text: t.result.text } : [],
      complete_till: t.complete_till as number,
      account_id: ctx.acc.id,
      request_id: requestIdOf(t, i),
    };
    ctx.acc.tasks.push(task);
    return { id: task.id, request_id: task.request_id, _links: link(ctx, `/api/v4/tasks/${task.id}`) };
  });
  return { status: 200, body: { _links: link(ctx, '/api/v4/tasks'), _embedded: { tasks: created } } };
}

/** GET /api/v4/tasks */
export function listTasks(ctx: ApiContext): ApiResult {
  const q = ctx.url.searchParams;
  const errors: ValidationError[] = [];
  const ids = intList(q, 'id', errors);
  const entityIds = intList(q, 'entity_id', errors);
  const responsible = intList(q, 'responsible_user_id', errors);
  const types = intList(q, 'task_type', errors);
  const entityType = q.get('filter[entity_type]');
  if (entityType !== null && !TASK_ENTITIES.includes(entityType as TaskEntity))
    errors.push({ code: 'NotSupportedChoice', path: 'filter[entity_type]', detail: 'The value you selected is not a valid choice.' });
  // amoCRM: filter[entity_id] works only together with filter[entity_type]
  if (entityIds && entityType === null) errors.push({ code: 'FieldMissing', path: 'filter[entity_type]', detail: 'This field is missing.' });
  const completedRaw = q.get('filter[is_completed]');
  const completed = completedRaw === null ? null : completedRaw === '1' || completedRaw === 'true';
  const orders: Array<{ by: 'created_at' | 'complete_till' | 'id'; dir: 1 | -1 }> = [];
  for (const [k, v] of q) {
    const m = /^order\[(created_at|complete_till|id)\]$/.exec(k);
    if (!m) continue;
    if (v !== 'asc' && v !== 'desc') errors.push({ code: 'NotSupportedChoice', path: k, detail: 'The value you selected is not a valid choice.' });
    else orders.push({ by: m[1] as 'created_at' | 'complete_till' | 'id', dir: v === 'asc' ? 1 : -1 });
  }
  if (errors.length) throw validationFailed([{ request_id: '0', errors }]);
  const list = ctx.acc.tasks.filter(
    (t) =>
      (!ids || ids.includes(t.id)) &&
      (entityType === null || t.entity_type === entityType) &&
      (!entityIds || (t.entity_id !== null && entityIds.includes(t.entity_id))) &&
      (!responsible || responsible.includes(t.responsible_user_id)) &&
      (!types || types.includes(t.task_type_id)) &&
      (completed === null || t.is_completed === completed),
  );
  list.sort((a, b) => {
    for (const o of orders) if (a[o.by] !== b[o.by]) return (a[o.by] - b[o.by]) * o.dir;
    return a.id - b.id;
  });
  return paginate(ctx, list, 'tasks', (t) => renderTask(ctx, t));
}

/** GET /api/v4/tasks/{id} */
export function getTask(ctx: ApiContext, id: string): ApiResult {
  const t = ctx.acc.tasks.find((x) => x.id === Number(id));
  if (!t) throw problemError(404, 'Task not found');
  return { status: 200, body: renderTask(ctx, t) };
}
