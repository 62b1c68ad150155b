// Realistic amoCRM catalogue data written straight into the cache: for the
// demo tenant (npm run db:seed) and for tests of the read side.
import { randomBytes } from 'node:crypto';
import type { Db } from '../platform/db.ts';
import type { EntityType } from '../generated/prisma/enums.ts';

const PIPELINE_NAMES = ['Продажи', 'Опт', 'Партнёры', 'Повторные продажи', 'Тендеры', 'Сервис'];
const STEP_NAMES = ['Первичный контакт', 'Переговоры', 'Принимают решение', 'Согласование договора', 'Выставлен счёт', 'Оплачено'];
const USER_NAMES = ['Анна Смирнова', 'Иван Петров', 'Мария Козлова', 'Дмитрий Волков', 'Ольга Новикова', 'Сергей Морозов'];
const TAG_NAMES = ['квиз', 'горячий', 'VIP', 'повторный', 'с сайта', 'реклама', 'опт', 'розница'];
interface FieldSeed {
  rawType: string;
  name: string;
  code?: string;
  options?: string[];
}

const FIELD_TYPES: FieldSeed[] = [
  { rawType: 'text', name: 'Комментарий' },
  { rawType: 'numeric', name: 'Площадь, м²' },
  { rawType: 'checkbox', name: 'Нужна доставка' },
  { rawType: 'select', name: 'Тип объекта', options: ['Квартира', 'Дом', 'Офис'] },
  { rawType: 'multiselect', name: 'Услуги', options: ['Дизайн', 'Ремонт', 'Мебель', 'Уборка'] },
  { rawType: 'date', name: 'Дата замера' },
  { rawType: 'date_time', name: 'Время звонка' },
  { rawType: 'birthday', name: 'День рождения' },
  { rawType: 'url', name: 'Сайт' },
  { rawType: 'textarea', name: 'Пожелания' },
  { rawType: 'radiobutton', name: 'Бюджет', options: ['до 100 000', '100 000 – 500 000', 'больше 500 000'] },
  { rawType: 'streetaddress', name: 'Адрес' },
  { rawType: 'smart_address', name: 'Адрес (умный)' },
  { rawType: 'legal_entity', name: 'Юрлицо' },
  { rawType: 'monetary', name: 'Сумма' },
  { rawType: 'price', name: 'Цена' },
  { rawType: 'category', name: 'Категория', options: ['A', 'B', 'C'] },
  { rawType: 'chained_list', name: 'Каталог' },
  { rawType: 'file', name: 'Файл' },
  { rawType: 'linked_entity', name: 'Связанная сущность' },
  { rawType: 'items', name: 'Товары' },
];
const UTM_CODES = ['UTM_SOURCE', 'UTM_MEDIUM', 'UTM_CAMPAIGN', 'UTM_TERM', 'UTM_CONTENT', 'UTM_REFERRER'];
const ENTITIES: EntityType[] = ['LEAD', 'CONTACT', 'COMPANY', 'CUSTOMER'];

export interface SeedOptions {
  quizAccountId: string;
  amoId?: number;
  subdomain?: string;
  pipelines?: number;
  stepsPerPipeline?: number;
  users?: number;
  tagsPerEntity?: number;
  /** Extra text fields per entity on top of one field of every type. */
  extraFieldsPerEntity?: number;
  archivedPipelines?: number;
}

export async function seedDemoAccount(db: Db, options: SeedOptions) {
  const amoId = options.amoId ?? 30_000_000 + Math.floor(Math.random() * 1_000_000);
  const subdomain = options.subdomain ?? `demo${amoId}`;
  let nextId = amoId * 10;
  const id = () => ++nextId;

  const account = await db.amoAccount.create({
    data: {
      quizAccountId: options.quizAccountId,
      amoId,
      name: `Демо ${subdomain}`,
      subdomain,
      host: `${subdomain}.amocrm.ru`,
      country: 'RU',
      currency: 'RUB',
      webhookSecret: randomBytes(24).toString('hex'),
      lastSyncAt: new Date(),
    },
  });
  const accountId = account.id;

  const userCount = options.users ?? 4;
  await db.amoUser.createMany({
    data: Array.from({ length: userCount }, (_, i) => ({
      accountId,
      amoId: id(),
      name: USER_NAMES[i % USER_NAMES.length] + (i >= USER_NAMES.length ? ` ${i}` : ''),
      email: `user${i}@${subdomain}.example`,
      role: i === 0 ? null : 1,
      group: 0,
      isAdmin: i === 0,
    })),
  });

  const pipelineCount = options.pipelines ?? 3;
  const archived = options.archivedPipelines ?? 1;
  const steps = options.stepsPerPipeline ?? 6;
  for (let p = 0; p < pipelineCount + archived; p++) {
    const pipeline = await db.pipeline.create({
      data: {
        accountId,
        amoId: id(),
        name: PIPELINE_NAMES[p % PIPELINE_NAMES.length] + (p >= PIPELINE_NAMES.length ? ` ${p}` : ''),
        sort: (p + 1) * 10,
        isMain: p === 0,
        isArchive: p >= pipelineCount,
        isUnsortedOn: true,
      },
    });
    await db.step.createMany({
      data: [
        { accountId, pipelineId: pipeline.id, amoId: id(), name: 'Неразобранное', sort: 0, type: 1, isEditable: false, color: '#c1c1c1' },
        ...Array.from({ length: steps }, (_, s) => ({
          accountId,
          pipelineId: pipeline.id,
          amoId: id(),
          name: STEP_NAMES[s % STEP_NAMES.length] + (s >= STEP_NAMES.length ? ` ${s}` : ''),
          sort: (s + 1) * 10,
          color: '#99ccff',
        })),
        { accountId, pipelineId: pipeline.id, amoId: 142, name: 'Успешно реализовано', sort: 10000, isEditable: false, color: '#CCFF66' },
        { accountId, pipelineId: pipeline.id, amoId: 143, name: 'Закрыто и не реализовано', sort: 11000, isEditable: false, color: '#D5D8DB' },
      ],
    });
  }

  for (const entity of ENTITIES) {
    const fields: FieldSeed[] = [...FIELD_TYPES, ...Array.from({ length: options.extraFieldsPerEntity ?? 0 }, (_, i) => ({ rawType: 'text', name: `Поле ${i + 1}` }))];
    if (entity === 'CONTACT') {
      fields.push({ rawType: 'multitext', name: 'Телефон', code: 'PHONE', options: ['WORK', 'WORKDD', 'MOB', 'FAX', 'HOME', 'OTHER'] });
      fields.push({ rawType: 'multitext', name: 'Email', code: 'EMAIL', options: ['WORK', 'PRIV', 'OTHER'] });
    }
    if (entity === 'LEAD') {
      for (const code of UTM_CODES) fields.push({ rawType: 'tracking_data', name: code.toLowerCase(), code });
    }
    await db.customField.createMany({
      data: fields.map((f, i) => ({
        accountId,
        entity,
        amoId: id(),
        name: f.name,
        code: f.code ?? null,
        rawType: f.rawType,
        sort: (i + 1) * 10,
        options: (f.options ?? []).map((value, o) => ({ amoId: id(), value, sort: (o + 1) * 10 })),
      })),
    });
    await db.tag.createMany({
      data: Array.from({ length: options.tagsPerEntity ?? TAG_NAMES.length }, (_, i) => ({
        accountId,
        entity,
        amoId: id(),
        name: TAG_NAMES[i % TAG_NAMES.length] + (i >= TAG_NAMES.length ? ` ${i}` : ''),
        color: i % 2 ? '#ffcc00' : null,
      })),
    });
  }
  return account;
}
