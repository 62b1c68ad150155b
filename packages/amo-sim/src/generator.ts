/** Generates realistic amoCRM account data: users, pipelines with statuses, custom fields of every type, tags. */
import type { SimState } from './state.ts';
import { prng } from './state.ts';
import type { Account, CustomField, EntityType, FieldType, Pipeline, SeedAccountOptions, Status, Tag, User, UserRights } from './types.ts';
import { DEFAULT_ACCOUNT_OPTIONS, ENTITY_TYPES, FIELD_TYPES } from './types.ts';

export const STATUS_WON = 142;
export const STATUS_LOST = 143;

const FIRST_NAMES = ['Анна', 'Иван', 'Мария', 'Дмитрий', 'Елена', 'Сергей', 'Ольга', 'Алексей', 'Татьяна', 'Никита', 'Юлия', 'Павел'];
const LAST_NAMES = ['Иванова', 'Петров', 'Смирнова', 'Кузнецов', 'Попова', 'Соколов', 'Лебедева', 'Козлов', 'Новикова', 'Морозов', 'Волкова', 'Фёдоров'];
const TRANSLIT: Record<string, string> = {
  а: 'a',
  б: 'b',
  в: 'v',
  г: 'g',
  д: 'd',
  е: 'e',
  ё: 'e',
  ж: 'zh',
  з: 'z',
  и: 'i',
  й: 'y',
  к: 'k',
  л: 'l',
  м: 'm',
  н: 'n',
  о: 'o',
  п: 'p',
  р: 'r',
  с: 's',
  т: 't',
  у: 'u',
  ф: 'f',
  х: 'h',
  ц: 'ts',
  ч: 'ch',
  ш: 'sh',
  щ: 'sch',
  ъ: '',
  ы: 'y',
  ь: '',
  э: 'e',
  ю: 'yu',
  я: 'ya',
};
const PIPELINE_NAMES = ['Воронка', 'Продажи', 'Партнёры', 'Повторные продажи', 'Тендеры', 'Опт', 'Розница', 'Сервис'];
const STATUS_NAMES = [
  'Первичный контакт',
  'Переговоры',
  'Принимают решение',
  'Согласование договора',
  'Выставлен счёт',
  'Ожидание оплаты',
  'Отгрузка',
  'Квалификация',
  'Замер',
  'Коммерческое предложение',
];
export const STATUS_COLORS = [
  '#99ccff',
  '#ffff99',
  '#ffcc66',
  '#ffcccc',
  '#ff9999',
  '#ccff66',
  '#d6eaff',
  '#c1e0ff',
  '#98cbff',
  '#ebffb1',
  '#deff81',
  '#87f2c0',
  '#f9deff',
  '#f3beff',
  '#ccc8f9',
  '#eb93ff',
  '#fffeb2',
  '#fffd7f',
  '#fff000',
  '#ffeab2',
];
export const TAG_COLORS = [null, 'DDEBB5', 'FFC8C8', 'FFCE5A', 'C1E0FF', 'EB93FF', '87F2C0', 'F2F3F4', 'D6EAFF', 'FFDC7F'];
const TAG_NAMES = ['квиз', 'горячий', 'VIP', 'повторный', 'сайт', 'яндекс', 'холодный', 'партнёр', 'опт', 'розница', 'tilda', 'instagram'];
const OPTION_SETS = [
  ['Москва', 'Санкт-Петербург', 'Казань', 'Новосибирск', 'Екатеринбург'],
  ['до 100 000 ₽', '100 000 – 500 000 ₽', 'более 500 000 ₽'],
  ['Да', 'Нет', 'Не знаю'],
  ['Квартира', 'Дом', 'Офис', 'Склад'],
  ['Звонок', 'Email', 'Telegram', 'WhatsApp'],
];
const FIELD_NAMES: Record<FieldType, string> = {
  text: 'Комментарий',
  numeric: 'Площадь, м²',
  checkbox: 'Согласие на рассылку',
  select: 'Город',
  multiselect: 'Способ связи',
  multitext: 'Мессенджеры',
  date: 'Дата замера',
  date_time: 'Время звонка',
  birthday: 'День рождения',
  url: 'Сайт',
  textarea: 'Пожелания',
  radiobutton: 'Тип объекта',
  streetaddress: 'Адрес объекта',
  smart_address: 'Адрес доставки',
  legal_entity: 'Юр. лицо',
  tracking_data: 'Источник',
  monetary: 'Бюджет',
  price: 'Стоимость',
  category: 'Категория',
  items: 'Товары',
  linked_entity: 'Связанный объект',
  chained_list: 'Каталог',
  file: 'Файл',
};

export const PHONE_ENUMS = ['WORK', 'WORKDD', 'MOB', 'FAX', 'HOME', 'OTHER'];
export const EMAIL_ENUMS = ['WORK', 'PRIV', 'OTHER'];
export const SMART_ADDRESS_ENUMS = ['address_line_1', 'address_line_2', 'city', 'state', 'zip', 'country'];
export const UTM_CODES = ['UTM_SOURCE', 'UTM_MEDIUM', 'UTM_CAMPAIGN', 'UTM_TERM', 'UTM_CONTENT', 'UTM_REFERRER'];
const EXTRA_TRACKING_CODES = ['ROISTAT', 'REFERRER', 'GCLIENTID', '_YM_UID', 'GCLID', 'YCLID', 'FBCLID', 'FROM'];

/** Types whose fields carry `enums`. */
export const ENUM_TYPES: ReadonlySet<FieldType> = new Set(['select', 'multiselect', 'radiobutton', 'category', 'multitext', 'smart_address']);

export interface FieldSpec {
  name: string;
  type: FieldType;
  code?: string | null;
  sort?: number;
  is_api_only?: boolean;
  is_predefined?: boolean;
  is_deletable?: boolean;
  is_required?: boolean;
  /** option values (select, multiselect, radiobutton, category, multitext, smart_address) */
  enums?: Array<string | { value: string; sort?: number }>;
  settings?: Record<string, unknown> | null;
  /** steps (pipeline, status) where the field must have a value */
  required_statuses?: Array<{ status_id: number; pipeline_id: number }>;
}

function translit(s: string): string {
  return [...s.toLowerCase()].map((c) => TRANSLIT[c] ?? c).join('');
}

/** list[index]; throws when the list has no such item (the lists here are constants, never empty). */
function item<T>(list: readonly T[], index: number): T {
  const v = list[index];
  if (v === undefined) throw new Error(`amo-sim: no item ${index} in a list of ${list.length}`);
  return v;
}

function pick<T>(rnd: () => number, list: readonly T[]): T {
  return item(list, Math.floor(rnd() * list.length));
}

function rights(isAdmin: boolean, isActive: boolean, groupId: number | null, roleId: number | null): UserRights {
  const full = isAdmin ? 'A' : 'M';
  const crud = { view: full, edit: full, add: 'A', delete: isAdmin ? 'A' : 'D', export: isAdmin ? 'A' : 'D' };
  return {
    leads: { ...crud },
    contacts: { ...crud },
    companies: { ...crud },
    tasks: { edit: full, delete: isAdmin ? 'A' : 'D' },
    mail_access: true,
    catalog_access: isAdmin,
    files_access: true,
    status_rights: [],
    is_admin: isAdmin,
    is_free: false,
    is_active: isActive,
    group_id: groupId,
    role_id: roleId,
  };
}

export function makeUser(state: SimState, acc: Account, partial: Partial<User> & { name?: string }, index = acc.users.length): User {
  const rnd = prng(acc.id + index * 7919);
  const name = partial.name ?? `${pick(rnd, FIRST_NAMES)} ${pick(rnd, LAST_NAMES)}`;
  const id = partial.id ?? state.nextId('user');
  if (partial.id) state.reserveId('user', partial.id);
  const isAdmin = partial.rights?.is_admin ?? index === 0;
  const user: User = {
    id,
    name,
    email:
      partial.email ??
      `${translit(name)
        .replace(/[^a-z]+/g, '.')
        .replace(/^\.|\.$/g, '')}.${id % 1000}@${acc.subdomain}.ru`,
    lang: partial.lang ?? 'ru',
    rights: {
      ...rights(isAdmin, index % 5 !== 3, index === 0 ? null : (index % 2) + 1, isAdmin ? null : 100 + (index % 3)),
      ...(partial.rights ?? {}),
    },
  };
  return user;
}

export function makeStatus(state: SimState, acc: Account, pipelineId: number, partial: Partial<Status> & { name: string }, sort: number): Status {
  const id = partial.id ?? state.nextId('status');
  if (partial.id && partial.id !== STATUS_WON && partial.id !== STATUS_LOST) state.reserveId('status', partial.id);
  return {
    id,
    name: partial.name,
    sort: partial.sort ?? sort,
    is_editable: partial.is_editable ?? true,
    pipeline_id: pipelineId,
    color: partial.color ?? item(STATUS_COLORS, Math.abs(((sort / 10) % STATUS_COLORS.length) | 0)),
    type: partial.type ?? 0,
    account_id: acc.id,
  };
}

/** A pipeline with the unsorted status first, the given/generated statuses, then 142 and 143. */
export function makePipeline(
  state: SimState,
  acc: Account,
  partial: Partial<Omit<Pipeline, 'statuses'>> & { name?: string; statuses?: Array<Partial<Status> & { name: string }> },
  statusCount = 4,
): Pipeline {
  const index = acc.pipelines.length;
  const id = partial.id ?? state.nextId('pipeline');
  if (partial.id) state.reserveId('pipeline', partial.id);
  const rnd = prng(id);
  const pipeline: Pipeline = {
    id,
    name: partial.name ?? PIPELINE_NAMES[index] ?? `Воронка ${index + 1}`,
    sort: partial.sort ?? (index + 1) * 1000,
    is_main: partial.is_main ?? index === 0,
    is_unsorted_on: partial.is_unsorted_on ?? true,
    is_archive: partial.is_archive ?? false,
    account_id: acc.id,
    statuses: [],
  };
  pipeline.statuses.push(makeStatus(state, acc, id, { name: 'Неразобранное', type: 1, is_editable: false, color: '#c1c1c1' }, 10));
  const names =
    partial.statuses ??
    Array.from({ length: statusCount }, (_, i) => ({ name: STATUS_NAMES[(i + Math.floor(rnd() * 3)) % STATUS_NAMES.length] + (i >= STATUS_NAMES.length ? ` ${i}` : '') }));
  names.forEach((s, i) => pipeline.statuses.push(makeStatus(state, acc, id, s, 20 + i * 10)));
  pipeline.statuses.push(makeStatus(state, acc, id, { id: STATUS_WON, name: 'Успешно реализовано', is_editable: false, color: '#CCFF66' }, 10000));
  pipeline.statuses.push(makeStatus(state, acc, id, { id: STATUS_LOST, name: 'Закрыто и не реализовано', is_editable: false, color: '#D5D8DB' }, 11000));
  return pipeline;
}

function defaultEnums(type: FieldType, rnd: () => number): string[] | undefined {
  switch (type) {
    case 'select':
    case 'multiselect':
    case 'radiobutton':
    case 'category':
      return pick(rnd, OPTION_SETS);
    case 'multitext':
      return PHONE_ENUMS;
    case 'smart_address':
      return SMART_ADDRESS_ENUMS;
    default:
      return undefined;
  }
}

export function makeField(state: SimState, acc: Account, entity: EntityType, spec: FieldSpec): CustomField {
  const id = state.nextId('field');
  const rnd = prng(id);
  const enumsIn = spec.enums ?? defaultEnums(spec.type, rnd);
  const enums =
    ENUM_TYPES.has(spec.type) && enumsIn
      ? enumsIn.map((e, i) => {
          const v = typeof e === 'string' ? { value: e } : e;
          return { id: spec.type === 'smart_address' ? i + 1 : state.nextId('enum'), value: v.value, sort: v.sort ?? (i + 1) * 500 };
        })
      : null;
  const field: CustomField = {
    id,
    name: spec.name,
    type: spec.type,
    code: spec.code ?? null,
    sort: spec.sort ?? acc.fields[entity].length * 2 + 500,
    entity_type: entity,
    account_id: acc.id,
    is_predefined: spec.is_predefined ?? false,
    is_deletable: spec.is_deletable ?? !spec.is_predefined,
    is_visible: true,
    is_required: spec.is_required ?? false,
    is_api_only: spec.is_api_only ?? false,
    group_id: null,
    required_statuses: (spec.required_statuses ?? []).map((r) => ({ status_id: Number(r.status_id), pipeline_id: Number(r.pipeline_id) })),
    remind: spec.type === 'birthday' ? 'day' : null,
    settings: spec.settings ?? (spec.type === 'monetary' ? { currency: 'RUB' } : null),
    enums,
    nested: null,
    chained_lists: null,
  };
  if (spec.type === 'category' && enums) {
    field.nested = enums.map((e) => ({ id: e.id, parent_id: null, value: e.value, sort: e.sort }));
  }
  if (spec.type === 'chained_list') field.chained_lists = [{ title: 'Каталог', catalog_id: 5001 + (id % 100), parent_catalog_id: 0 }];
  if (spec.type === 'linked_entity') field.settings = { catalog_id: 5101 };
  return field;
}

export function makeTag(state: SimState, name: string, color?: string | null): Tag {
  const id = state.nextId('tag');
  return { id, name, color: color === undefined ? item(TAG_COLORS, id % TAG_COLORS.length) : color };
}

function predefinedFields(entity: EntityType): FieldSpec[] {
  const phone: FieldSpec = { name: 'Телефон', type: 'multitext', code: 'PHONE', enums: PHONE_ENUMS, is_predefined: true, sort: 4 };
  const email: FieldSpec = { name: 'Email', type: 'multitext', code: 'EMAIL', enums: EMAIL_ENUMS, is_predefined: true, sort: 6 };
  switch (entity) {
    case 'contacts':
      return [{ name: 'Должность', type: 'text', code: 'POSITION', is_predefined: true, sort: 2 }, phone, email];
    case 'companies':
      return [
        phone,
        email,
        { name: 'Web', type: 'url', code: 'WEB', is_predefined: true, sort: 8 },
        { name: 'Адрес', type: 'textarea', code: 'ADDRESS', is_predefined: true, sort: 10 },
      ];
    case 'leads':
      return [...UTM_CODES, ...EXTRA_TRACKING_CODES].map((code, i) => ({
        name: code.toLowerCase().replace(/^_/, ''),
        type: 'tracking_data' as FieldType,
        code,
        is_predefined: true,
        is_deletable: false,
        sort: 100 + i,
      }));
    case 'customers':
      return [];
  }
}

function perEntity(v: number | Partial<Record<EntityType, number>> | undefined, entity: EntityType, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v === 'number') return v;
  return v[entity] ?? dflt;
}

/** The types of user-defined fields generated for an entity (cycled when more fields are asked for). */
function userFieldTypes(entity: EntityType): FieldType[] {
  return FIELD_TYPES.filter((t) => entity === 'leads' || t !== 'tracking_data');
}

export function generateAccount(state: SimState, opts: SeedAccountOptions = {}): Account {
  const id = opts.id ?? state.nextId('account');
  if (opts.id) state.reserveId('account', opts.id);
  if (state.accounts.has(id)) throw new Error(`amo-sim: account ${id} exists`);
  const rnd = prng(opts.seed ?? id);
  const subdomain = opts.subdomain ?? `quiz${id}`;
  const acc: Account = {
    id,
    name: opts.name ?? `ООО «${pick(rnd, ['Ромашка', 'Вектор', 'Мегаполис', 'Альфа-Строй', 'Горизонт', 'Кухни Плюс'])}»`,
    subdomain,
    country: 'RU',
    currency: 'RUB',
    currency_symbol: '₽',
    created_at: state.nowSec() - 86_400 * 400,
    current_user_id: 0,
    customersEnabled: opts.customersEnabled ?? true,
    duplicateControl: opts.duplicateControl ?? false,
    ...DEFAULT_ACCOUNT_OPTIONS,
    ...(opts.options ?? {}),
    users: [],
    pipelines: [],
    fields: state.emptyEntityRecord(() => []),
    tags: state.emptyEntityRecord(() => []),
    leads: [],
    contacts: [],
    companies: [],
    customers: [],
    notes: [],
    webhooks: [],
  };

  const users = opts.users ?? 3;
  if (typeof users === 'number') for (let i = 0; i < Math.max(1, users); i++) acc.users.push(makeUser(state, acc, {}, i));
  else users.forEach((u, i) => acc.users.push(makeUser(state, acc, u, i)));
  const currentUser = acc.users.find((u) => u.rights.is_admin) ?? acc.users[0];
  if (!currentUser) throw new Error('amo-sim: an account needs at least one user');
  acc.current_user_id = currentUser.id;

  const pipelines = opts.pipelines ?? 2;
  const statusCount = opts.statusesPerPipeline ?? 4;
  if (typeof pipelines === 'number') for (let i = 0; i < Math.max(1, pipelines); i++) acc.pipelines.push(makePipeline(state, acc, {}, statusCount));
  else for (const p of pipelines) acc.pipelines.push(makePipeline(state, acc, p, statusCount));
  const firstPipeline = acc.pipelines[0];
  if (!firstPipeline) throw new Error('amo-sim: an account needs at least one pipeline');
  if (!acc.pipelines.some((p) => p.is_main)) firstPipeline.is_main = true;

  for (const entity of ENTITY_TYPES) {
    for (const spec of predefinedFields(entity)) acc.fields[entity].push(makeField(state, acc, entity, spec));
    const types = userFieldTypes(entity);
    const n = perEntity(opts.fieldsPerEntity, entity, types.length);
    for (let i = 0; i < n; i++) {
      const type = item(types, i % types.length);
      const round = Math.floor(i / types.length);
      acc.fields[entity].push(makeField(state, acc, entity, { name: FIELD_NAMES[type] + (round ? ` ${round + 1}` : ''), type }));
    }
    const t = perEntity(opts.tagsPerEntity, entity, 5);
    for (let i = 0; i < t; i++) {
      const round = Math.floor(i / TAG_NAMES.length);
      acc.tags[entity].push(makeTag(state, item(TAG_NAMES, i % TAG_NAMES.length) + (round ? ` ${round + 1}` : '')));
    }
  }
  state.accounts.set(id, acc);
  return acc;
}
