import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AmoSimulator, CustomField as SimField } from '@quiz-gateway/amo-sim';
import { saveTokens } from '../src/platform/amo/index.ts';
import { TOPICS } from '../src/platform/queue/index.ts';
import type { Services } from '../src/platform/services.ts';
import { acceptResult, acceptResults, NO_ACCOUNT_ERROR } from '../src/features/delivery/accept.ts';
import {
  claimDueDeliveries,
  createDeliveryRuntime,
  NO_RULE_ERROR,
  retryDelivery,
  runDeliveryPass,
  startDeliveryWorker,
  type DeliveryHooks,
  type DeliveryRuntime,
} from '../src/features/delivery/worker.ts';
import { noteMarker, RESULT_FIELD_CODE } from '../src/features/delivery/payload.ts';
import type { TestDatabase } from './helpers/db.ts';
import { at, only } from './helpers/narrow.ts';
import { connectSimAccount, testAmoConfig, TEST_AMO_CLIENT_ID } from './helpers/amo.ts';
import {
  copyCatalogue,
  createRule,
  deliveryServices,
  drainDeliveries,
  startDeliveryKit,
  testDeliveryRuntime,
  type DeliveryKit,
  recordEvents,
  type Catalogue,
} from './helpers/delivery.ts';

const amoConfig = testAmoConfig();
let sim: AmoSimulator;
let tdb: TestDatabase;
let services: Services;

let kit: DeliveryKit | undefined;
before(async () => {
  kit = await startDeliveryKit({ rateLimitCountsRejected: true });
  ({ sim, tdb, services } = kit);
});
after(() => kit?.stop());

const runtime = (hooks: DeliveryHooks = {}, extra: Parameters<typeof createDeliveryRuntime>[1] = {}): DeliveryRuntime => testDeliveryRuntime(services, hooks, extra);
const drain = (rt: DeliveryRuntime, quizAccountId: string, timeoutMs?: number) => drainDeliveries(rt, tdb.db, quizAccountId, timeoutMs);

const expireLeases = () => tdb.db.$executeRaw`UPDATE delivery SET locked_until = now() - interval '1 second' WHERE locked_until IS NOT NULL`;

interface Setup {
  accountId: string;
  amoId: number;
  quizAccountId: string;
  cat: Catalogue;
  pipeline: number;
  firstStatus: number;
  unsortedStatus: number;
}

async function setup(): Promise<Setup> {
  const conn = await connectSimAccount(tdb.db, sim, amoConfig, { seed: { pipelines: 2 } });
  const cat = await copyCatalogue(tdb.db, sim, conn.accountId, conn.amoId);
  const acc = sim.account(conn.amoId);
  const p = at(acc.pipelines, 0, 'pipeline');
  return {
    ...conn,
    cat,
    pipeline: p.id,
    firstStatus: p.statuses.find((s) => s.type === 0 && s.id !== 142 && s.id !== 143)!.id,
    unsortedStatus: p.statuses.find((s) => s.type === 1)!.id,
  };
}

const simpleResult = (resultId: string, quizId = 'quiz-1') => ({
  resultId,
  quizId,
  contact: { name: 'Иван', phone: '+7 900 111-22-33' },
  answers: [{ questionId: 'q1', title: 'Площадь', values: ['42'] }],
});

describe('the lead amoCRM gets', () => {
  test('answers for fields of every type land exactly as the rule says', async () => {
    const s = await setup();
    const acc = sim.account(s.amoId);
    const lf = (type: string): SimField => acc.fields.leads.find((f) => f.type === type && !f.code)!;
    const cf = (pred: (f: SimField) => boolean) => acc.fields.contacts.find(pred)!;
    const co = (pred: (f: SimField) => boolean) => acc.fields.companies.find(pred)!;
    const option = (f: SimField, i: number) => at(f.enums ?? [], i, `option of ${f.name}`);
    const types = [
      'text',
      'numeric',
      'checkbox',
      'select',
      'multiselect',
      'multitext',
      'date',
      'date_time',
      'birthday',
      'url',
      'textarea',
      'radiobutton',
      'streetaddress',
      'smart_address',
      'legal_entity',
      'monetary',
      'price',
      'category',
      'file',
    ] as const;
    const answerFor: Record<(typeof types)[number], string[]> = {
      text: ['Привет'],
      numeric: ['1 234,5'],
      checkbox: ['Да'],
      select: [` ${option(lf('select'), 1).value.toUpperCase()} `],
      multiselect: [option(lf('multiselect'), 0).value, option(lf('multiselect'), 2).value.toLowerCase()],
      multitext: ['@telegram'],
      date: ['21.11.2026'],
      date_time: ['2026-11-21T10:30:00Z'],
      birthday: ['1990-05-01'],
      url: ['https://example.com/x'],
      textarea: ['Много\nтекста'],
      radiobutton: [option(lf('radiobutton'), 0).value],
      streetaddress: ['Тверская, 1'],
      smart_address: ['Москва, Тверская, 1'],
      legal_entity: ['ООО «Ромашка»'],
      monetary: ['1000'],
      price: ['500.00'],
      category: [option(lf('category'), 2).value],
      file: ['report.pdf'],
    };
    const contactCity = cf((f) => f.type === 'select');
    const position = cf((f) => f.code === 'POSITION');
    const web = co((f) => f.code === 'WEB');
    const customerText = acc.fields.customers.find((f) => f.type === 'text')!;
    const utmCampaignField = lf('text');
    const performer = at(acc.users, 1, 'user');
    await createRule(tdb.db, s.cat, s.accountId, {
      quizId: 'quiz-all',
      pipelineAmoId: s.pipeline,
      statusAmoId: s.firstStatus,
      performerAmoId: performer.id,
      mappings: [
        ...types.map((t) => ({ target: 'LEAD' as const, source: 'QUESTION' as const, key: `q_${t}`, fieldAmoId: lf(t).id })),
        { target: 'CONTACT', source: 'QUESTION', key: 'q_city', fieldAmoId: contactCity.id },
        { target: 'CONTACT', source: 'PROPERTY', key: 'position', fieldAmoId: position.id },
        { target: 'COMPANY', source: 'QUESTION', key: 'q_site', fieldAmoId: web.id },
        { target: 'CUSTOMER', source: 'QUESTION', key: 'q_text', fieldAmoId: customerText.id },
      ],
      tags: [
        { entity: 'LEAD', amoId: at(acc.tags.leads, 0).id },
        { entity: 'CONTACT', amoId: at(acc.tags.contacts, 1).id },
        { entity: 'COMPANY', amoId: at(acc.tags.companies, 2).id },
      ],
      utms: [{ name: 'utm_campaign', fieldAmoId: utmCampaignField.id }],
    });

    const input = {
      resultId: 'res-all-1',
      quizId: 'quiz-all',
      price: 15000,
      submittedAt: '2026-11-21T10:00:00.000Z',
      contact: {
        name: 'Анна Смирнова',
        phone: '+7 900 000-00-00',
        email: 'anna@example.com',
        extra: [
          { key: 'position', value: 'Директор' },
          { key: 'company', value: 'ООО Вектор' },
        ],
      },
      answers: [
        ...types.map((t) => ({ questionId: `q_${t}`, title: `Вопрос ${t}`, values: answerFor[t] })),
        { questionId: 'q_city', values: [option(contactCity, 3).value] },
        { questionId: 'q_site', title: 'Сайт компании', values: ['https://vector.example'] },
        { questionId: 'q_free', title: 'Без поля', values: ['просто ответ'] },
      ],
      utm: [
        { key: 'utm_source', value: 'yandex' },
        { key: 'utm_campaign', value: 'autumn' },
        { key: 'utm_nothing', value: 'zzz' },
      ],
    };
    const d = await acceptResult(services, s.quizAccountId, input);
    assert.equal(d.status, 'PENDING');
    await drain(runtime(), s.quizAccountId);

    const row = await tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    const account = await tdb.db.amoAccount.findUniqueOrThrow({ where: { id: s.accountId } });
    const resultField = sim.account(s.amoId).fields.leads.find((f) => f.code === RESULT_FIELD_CODE);
    assert.ok(resultField, 'the result-id field was created');
    assert.equal(resultField.is_api_only, true);
    assert.equal(account.resultFieldId, resultField.id);

    const leads = sim.leads(s.amoId);
    assert.equal(leads.length, 1);
    const lead = leads[0]!;
    assert.equal(row.status, 'DELIVERED');
    assert.equal(row.stage, 'DONE');
    assert.equal(row.amoLeadId, lead.id);
    assert.equal(row.amoContactId, lead.contact_id);
    assert.equal(row.amoCompanyId, lead.company_id);
    assert.ok(row.deliveredAt);

    const day = Date.UTC(2026, 10, 21) / 1000;
    const phone = acc.fields.contacts.find((f) => f.code === 'PHONE')!;
    const email = acc.fields.contacts.find((f) => f.code === 'EMAIL')!;
    const utmSource = acc.fields.leads.find((f) => f.code === 'UTM_SOURCE')!;
    const expected = {
      name: 'Quiz quiz-all: Анна Смирнова',
      price: 15000,
      pipeline_id: s.pipeline,
      status_id: s.firstStatus,
      responsible_user_id: performer.id,
      custom_fields_values: [
        { field_id: resultField.id, values: [{ value: 'res-all-1' }] },
        { field_id: lf('text').id, values: [{ value: 'Привет' }] },
        { field_id: lf('numeric').id, values: [{ value: '1234.5' }] },
        { field_id: lf('checkbox').id, values: [{ value: true }] },
        { field_id: lf('select').id, values: [{ enum_id: option(lf('select'), 1).id }] },
        { field_id: lf('multiselect').id, values: [{ enum_id: option(lf('multiselect'), 0).id }, { enum_id: option(lf('multiselect'), 2).id }] },
        { field_id: lf('multitext').id, values: [{ value: '@telegram', enum_code: 'WORK' }] },
        { field_id: lf('date').id, values: [{ value: day }] },
        { field_id: lf('date_time').id, values: [{ value: day + 37_800 }] },
        { field_id: lf('birthday').id, values: [{ value: Date.UTC(1990, 4, 1) / 1000 }] },
        { field_id: lf('url').id, values: [{ value: 'https://example.com/x' }] },
        { field_id: lf('textarea').id, values: [{ value: 'Много\nтекста' }] },
        { field_id: lf('radiobutton').id, values: [{ enum_id: option(lf('radiobutton'), 0).id }] },
        { field_id: lf('streetaddress').id, values: [{ value: 'Тверская, 1' }] },
        { field_id: lf('smart_address').id, values: [{ value: 'Москва, Тверская, 1', enum_code: 'address_line_1' }] },
        { field_id: lf('legal_entity').id, values: [{ value: { name: 'ООО «Ромашка»' } }] },
        { field_id: lf('monetary').id, values: [{ value: '1000' }] },
        { field_id: lf('price').id, values: [{ value: '500.00' }] },
        { field_id: lf('category').id, values: [{ enum_id: option(lf('category'), 2).id }] },
        { field_id: utmSource.id, values: [{ value: 'yandex' }] },
      ],
      request_id: d.id,
      _embedded: {
        tags: [{ id: at(acc.tags.leads, 0).id }],
        contacts: [
          {
            name: 'Анна Смирнова',
            responsible_user_id: performer.id,
            custom_fields_values: [
              { field_id: contactCity.id, values: [{ enum_id: option(contactCity, 3).id }] },
              { field_id: position.id, values: [{ value: 'Директор' }] },
              { field_id: phone.id, values: [{ value: '+7 900 000-00-00', enum_code: 'WORK' }] },
              { field_id: email.id, values: [{ value: 'anna@example.com', enum_code: 'WORK' }] },
            ],
            _embedded: { tags: [{ id: at(acc.tags.contacts, 1).id }] },
          },
        ],
        companies: [
          {
            name: 'ООО Вектор',
            responsible_user_id: performer.id,
            custom_fields_values: [{ field_id: web.id, values: [{ value: 'https://vector.example' }] }],
            _embedded: { tags: [{ id: at(acc.tags.companies, 2).id }] },
          },
        ],
      },
    };
    // utm_campaign is mapped to the lead text field the text question already filled: reported, not overwritten
    assert.deepEqual(lead.raw, expected);
    assert.equal(lead.contact?.name, 'Анна Смирнова');
    assert.equal(lead.company?.name, 'ООО Вектор');
    assert.deepEqual(
      lead.tags.map((t) => t.id),
      [at(acc.tags.leads, 0).id],
    );

    // warnings: the file field, the UTM that collided; the customer is created (delivery-customers.test.ts)
    assert.ok(
      row.warnings.some((w) => /file/i.test(w) && /cannot be filled/.test(w)),
      row.warnings.join('\n'),
    );
    assert.ok(
      row.warnings.some((w) => /UTM utm_campaign/.test(w) && /already filled/.test(w)),
      row.warnings.join('\n'),
    );
    assert.ok(!row.warnings.some((w) => /customer/.test(w)), row.warnings.join('\n'));
    assert.ok(row.amoCustomerId, 'the customer is created');

    assert.equal(lead.notes.length, 1);
    const note = String(lead.notes[0]!.params.text);
    for (const t of types) assert.ok(note.includes(`Вопрос ${t}: ${answerFor[t].join(', ')}`), `note has ${t}`);
    assert.ok(note.includes('q_city: '), 'a question without a title is named by its id');
    assert.ok(note.includes('Без поля: просто ответ'));
    assert.ok(note.includes('Quiz result ID: res-all-1'));
    assert.ok(note.includes('2026-11-21T10:00:00.000Z'));
    for (const u of ['utm_source: yandex', 'utm_campaign: autumn', 'utm_nothing: zzz']) assert.ok(note.includes(u), u);
    assert.match(note, /Not transferred to fields:\n- lead field "Файл".*cannot be filled/);
    assert.ok(note.endsWith(`Customer: amoCRM customer #${row.amoCustomerId}`), note);
  });

  test('a value that does not convert: the lead is created without it, warned on the Delivery, listed in the note', async () => {
    const s = await setup();
    const acc = sim.account(s.amoId);
    const num = acc.fields.leads.find((f) => f.type === 'numeric' && !f.code)!;
    const sel = acc.fields.leads.find((f) => f.type === 'select')!;
    const chk = acc.fields.leads.find((f) => f.type === 'checkbox')!;
    await createRule(tdb.db, s.cat, s.accountId, {
      quizId: 'quiz-bad',
      pipelineAmoId: s.pipeline,
      statusAmoId: s.firstStatus,
      mappings: [
        { target: 'LEAD', source: 'QUESTION', key: 'area', fieldAmoId: num.id },
        { target: 'LEAD', source: 'QUESTION', key: 'city', fieldAmoId: sel.id },
        { target: 'LEAD', source: 'QUESTION', key: 'agree', fieldAmoId: chk.id },
      ],
    });
    const d = await acceptResult(services, s.quizAccountId, {
      resultId: 'bad-1',
      quizId: 'quiz-bad',
      answers: [
        { questionId: 'area', title: 'Площадь', values: ['около сорока'] },
        { questionId: 'city', title: 'Город', values: ['Атлантида'] },
        { questionId: 'agree', title: 'Согласие', values: ['yes'] },
      ],
    });
    await drain(runtime(), s.quizAccountId);
    const row = await tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.status, 'DELIVERED');
    const lead = only(sim.leads(s.amoId), 'lead');
    const ids = (lead.custom_fields_values ?? []).map((v) => v.field_id);
    assert.ok(!ids.includes(num.id) && !ids.includes(sel.id));
    assert.ok(ids.includes(chk.id));
    assert.equal(lead.name, 'Quiz quiz-bad: result bad-1');
    assert.equal(row.warnings.length, 2, row.warnings.join('\n'));
    assert.match(row.warnings[0]!, /Площадь.*"около сорока" is not a number/);
    assert.match(row.warnings[1]!, /Город.*"Атлантида" is not an option/);
    const note = String(at(lead.notes, 0, 'note').params.text);
    assert.match(note, /"около сорока" is not a number/);
    assert.match(note, /"Атлантида" is not an option/);
  });

  test("an Unsorted rule: metadata, the lead in the pipeline's unsorted status", async () => {
    const s = await setup();
    await createRule(tdb.db, s.cat, s.accountId, { quizId: 'quiz-u', pipelineAmoId: s.pipeline, statusAmoId: s.firstStatus, toUnsorted: true });
    await acceptResult(services, s.quizAccountId, {
      ...simpleResult('u-1', 'quiz-u'),
      leadName: 'Заявка с лендинга',
      submittedAt: '2026-11-21T10:00:00Z',
      formPage: 'https://landing.example/quiz',
      ip: '203.0.113.7',
      referer: 'https://ya.ru/',
    });
    await acceptResult(services, s.quizAccountId, simpleResult('u-2', 'quiz-u'));
    await drain(runtime(), s.quizAccountId);
    const leads = sim.leads(s.amoId).sort((a, b) => a.id - b.id);
    assert.equal(leads.length, 2);
    const [first, second] = [at(leads, 0), at(leads, 1)];
    assert.equal(first.status_id, s.unsortedStatus);
    assert.equal(first.pipeline_id, s.pipeline);
    assert.equal(first.name, 'Заявка с лендинга');
    assert.deepEqual(first.metadata, {
      category: 'forms',
      form_id: 'quiz-u',
      form_name: 'Quiz quiz-u',
      form_sent_at: Date.UTC(2026, 10, 21, 10) / 1000,
      form_page: 'https://landing.example/quiz',
      ip: '203.0.113.7',
      referer: 'https://ya.ru/',
    });
    assert.equal((first.raw as any).status_id, undefined);
    assert.deepEqual(Object.keys(second.metadata ?? {}).sort(), ['category', 'form_id', 'form_name', 'form_sent_at']);
  });
});

describe('taking results in', () => {
  test('a bad input is refused with BAD_USER_INPUT and writes nothing', async () => {
    const before = await tdb.db.delivery.count();
    await assert.rejects(acceptResult(services, 'quiz-x', { quizId: 'q', answers: [] }), (e: any) => e.extensions?.code === 'BAD_USER_INPUT' && /resultId/.test(e.message));
    await assert.rejects(acceptResult(services, 'quiz-x', { resultId: 'r', quizId: 'q', answers: [], price: 1.5 }), (e: any) => /price/.test(e.message));
    await assert.rejects(acceptResult(services, 'quiz-x', { resultId: 'r', quizId: 'q', answers: [{ questionId: 'a', values: 'x' }] }), (e: any) =>
      /answers\.0\.values/.test(e.message),
    );
    assert.equal(await tdb.db.delivery.count(), before);
  });

  test('no account connected: PENDING with the reason; it goes out once one is connected', async () => {
    const quizAccountId = 'quiz-later';
    const d = await acceptResult(services, quizAccountId, simpleResult('later-1'));
    assert.equal(d.status, 'PENDING');
    assert.equal(d.accountId, null);
    assert.equal(d.lastError, NO_ACCOUNT_ERROR);
    const rt = runtime();
    assert.equal(await runDeliveryPass(rt), 0);
    const conn = await connectSimAccount(tdb.db, sim, amoConfig, { quizAccountId });
    const cat = await copyCatalogue(tdb.db, sim, conn.accountId, conn.amoId);
    const p = at(sim.account(conn.amoId).pipelines, 0, 'pipeline');
    await createRule(tdb.db, cat, conn.accountId, { quizId: 'quiz-1', pipelineAmoId: p.id, statusAmoId: at(p.statuses, 1, 'status').id });
    await drain(rt, quizAccountId);
    const row = await tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.status, 'DELIVERED');
    assert.equal(row.accountId, conn.accountId);
    assert.equal(row.lastError, null);
    assert.equal(sim.leads(conn.amoId).length, 1);
  });

  test('a quiz without a rule: FAILED "quiz has no rule"', async () => {
    const s = await setup();
    const d = await acceptResult(services, s.quizAccountId, simpleResult('norule-1', 'quiz-without-rule'));
    await drain(runtime(), s.quizAccountId);
    const row = await tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.status, 'FAILED');
    assert.equal(row.lastError, NO_RULE_ERROR);
    assert.equal(sim.leads(s.amoId).length, 0);
  });

  test('the same result three times (topic twice + acceptResult): one Delivery, one lead', async () => {
    const s = await setup();
    await createRule(tdb.db, s.cat, s.accountId, { quizId: 'quiz-1', pipelineAmoId: s.pipeline, statusAmoId: s.firstStatus });
    const worker = await startDeliveryWorker(services, { pollMs: 50, backoffMs: 20, reconcileDelayMs: 0, amoClient: { backoffMs: 20 } });
    try {
      const value = { ...simpleResult('dup-1'), quizAccountId: s.quizAccountId };
      await services.queue.publish(TOPICS.quizResults, s.quizAccountId, value);
      const direct = await acceptResult(services, s.quizAccountId, simpleResult('dup-1'));
      await services.queue.publish(TOPICS.quizResults, s.quizAccountId, value);
      const until = Date.now() + 20_000;
      for (;;) {
        const row = await tdb.db.delivery.findUniqueOrThrow({ where: { id: direct.id } });
        if (row.status === 'DELIVERED') break;
        assert.ok(Date.now() < until, 'delivered in time');
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 300)); // let the second message be consumed too
    } finally {
      await worker.stop();
    }
    assert.equal(await tdb.db.delivery.count({ where: { quizAccountId: s.quizAccountId } }), 1);
    assert.equal(sim.leads(s.amoId).length, 1);
    assert.equal(sim.leads(s.amoId)[0]!.notes.length, 1);
  });
});

describe('taking results in batches (acceptResults)', () => {
  test('duplicates, a bad item and two tenants in one batch: one Delivery per (tenant, result id), events for the new ones', async () => {
    const s = await setup(); // a tenant with a live account
    const other = 'quiz-batch-no-account';
    await acceptResult(services, s.quizAccountId, simpleResult('b-0', 'quiz-old')); // exists before the batch
    const events = await recordEvents(services.queue);
    try {
      const outcomes = await acceptResults(services, [
        { quizAccountId: s.quizAccountId, input: simpleResult('b-1', 'quiz-first') },
        { quizAccountId: other, input: simpleResult('b-1', 'quiz-other') }, // same result id, other tenant
        { quizAccountId: s.quizAccountId, input: { quizId: 'q', answers: [] } }, // bad: no resultId
        { quizAccountId: s.quizAccountId, input: simpleResult('b-1', 'quiz-second') }, // duplicate in the batch
        { quizAccountId: s.quizAccountId, input: simpleResult('b-0', 'quiz-new') }, // duplicate of an older one
        { quizAccountId: s.quizAccountId, input: simpleResult('b-2') },
        { quizAccountId: '', input: simpleResult('b-3') }, // bad: no tenant
      ]);
      assert.deepEqual(
        outcomes.map((o) => (o.ok ? o.inserted : 'bad')),
        [true, true, 'bad', false, false, true, 'bad'],
      );
      const bad = at(outcomes, 2, 'outcome');
      assert.ok(!bad.ok && bad.error.extensions?.code === 'BAD_USER_INPUT' && /resultId/.test(bad.error.message));

      const mine = await tdb.db.delivery.findMany({ where: { quizAccountId: s.quizAccountId }, orderBy: { resultId: 'asc' } });
      assert.deepEqual(
        mine.map((d) => [d.resultId, d.quizId]),
        [
          ['b-0', 'quiz-old'],
          ['b-1', 'quiz-first'],
          ['b-2', 'quiz-1'],
        ],
        'the first payload wins',
      );
      assert.ok(mine.every((d) => d.accountId === s.accountId && d.lastError === null && d.status === 'PENDING'));
      const theirs = await tdb.db.delivery.findMany({ where: { quizAccountId: other } });
      assert.equal(theirs.length, 1);
      assert.equal(theirs[0]!.accountId, null);
      assert.equal(theirs[0]!.lastError, NO_ACCOUNT_ERROR);
      assert.equal(theirs[0]!.quizId, 'quiz-other');
      assert.equal((outcomes[1] as { deliveryId?: string }).deliveryId, theirs[0]!.id);

      const newIds = [outcomes[0], outcomes[1], outcomes[5]].map((o) => (o as { deliveryId?: string }).deliveryId);
      const until = Date.now() + 10_000;
      while (events.events.filter((e) => newIds.includes(e.deliveryId)).length < 3) {
        assert.ok(Date.now() < until, 'delivery.updated for each new Delivery');
        await new Promise((r) => setTimeout(r, 20));
      }
      await new Promise((r) => setTimeout(r, 100));
      const batchEvents = events.events.filter(
        (e) => e.type === 'delivery.updated' && (e.quizAccountId === other || newIds.includes(e.deliveryId) || e.quizAccountId === s.quizAccountId),
      );
      assert.equal(batchEvents.length, 3, 'no event for a duplicate');
      const theirsEvent = batchEvents.find((e) => e.quizAccountId === other);
      assert.deepEqual(theirsEvent, { type: 'delivery.updated', quizAccountId: other, deliveryId: theirs[0]!.id, quizId: 'quiz-other', status: 'PENDING' });

      // Again: all duplicates, nothing written, nothing published.
      const again = await acceptResults(services, [
        { quizAccountId: s.quizAccountId, input: simpleResult('b-2') },
        { quizAccountId: other, input: simpleResult('b-1') },
      ]);
      assert.deepEqual(again, [
        { ok: true, inserted: false },
        { ok: true, inserted: false },
      ]);
      assert.deepEqual(await acceptResults(services, []), []);
    } finally {
      await events.stop();
    }
  });

  test('the quiz.results consumer takes a batch with a bad result in: the good ones delivered, only the bad one parked', async () => {
    const s = await setup();
    await createRule(tdb.db, s.cat, s.accountId, { quizId: 'quiz-1', pipelineAmoId: s.pipeline, statusAmoId: s.firstStatus });
    const parkedBefore = (services.queue as { deadLetters?: () => unknown[] }).deadLetters?.().length ?? 0;
    const worker = await startDeliveryWorker(services, { pollMs: 50, backoffMs: 20, reconcileDelayMs: 0, amoClient: { backoffMs: 20 } });
    try {
      await services.queue.publishBatch(TOPICS.quizResults, [
        ...['w-1', 'w-2', 'w-1'].map((id) => ({ key: s.quizAccountId, value: { ...simpleResult(id), quizAccountId: s.quizAccountId } })),
        { key: s.quizAccountId, value: { quizAccountId: s.quizAccountId, quizId: 'quiz-1', answers: [] } },
        { key: s.quizAccountId, value: { ...simpleResult('w-3'), quizAccountId: s.quizAccountId } },
      ]);
      const until = Date.now() + 30_000;
      for (;;) {
        const delivered = await tdb.db.delivery.count({ where: { quizAccountId: s.quizAccountId, status: 'DELIVERED' } });
        if (delivered === 3) break;
        assert.ok(Date.now() < until, `delivered in time (${delivered})`);
        await new Promise((r) => setTimeout(r, 50));
      }
      if (services.queue.kind === 'memory') {
        const until2 = Date.now() + 30_000;
        while (((services.queue as unknown as { deadLetters(): unknown[] }).deadLetters().length ?? 0) < parkedBefore + 1) {
          assert.ok(Date.now() < until2, 'the bad result parked');
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    } finally {
      await worker.stop();
    }
    assert.equal(await tdb.db.delivery.count({ where: { quizAccountId: s.quizAccountId } }), 3);
    assert.equal(sim.leads(s.amoId).length, 3);
  });
});

describe('exactly once across crashes', () => {
  const crashOnce = (point: keyof DeliveryHooks): DeliveryHooks => {
    let fired = false;
    return {
      [point]: () => {
        if (!fired) {
          fired = true;
          throw new Error(`simulated crash at ${point}`);
        }
      },
    };
  };

  for (const point of ['beforeSend', 'afterSend', 'afterLeadCreated', 'afterNote'] as const) {
    test(`a crash at ${point}: one lead and one note after the next run`, async () => {
      const s = await setup();
      await createRule(tdb.db, s.cat, s.accountId, { quizId: 'quiz-1', pipelineAmoId: s.pipeline, statusAmoId: s.firstStatus });
      const d = await acceptResult(services, s.quizAccountId, simpleResult(`crash-${point}`));
      const crashing = runtime(crashOnce(point));
      await assert.rejects(runDeliveryPass(crashing), /simulated crash/);
      const mid = await tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
      assert.equal(mid.status, 'PENDING');
      assert.equal(mid.stage, point === 'beforeSend' || point === 'afterSend' ? 'SENDING' : 'LEAD_CREATED');
      assert.ok(mid.lockedUntil && mid.lockedUntil > new Date(), 'the crashed process still holds the lease');
      assert.equal(await runDeliveryPass(runtime()), 0, 'nobody takes it while the lease holds');
      await expireLeases();
      await drain(runtime(), s.quizAccountId);
      const row = await tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
      const leads = sim.leads(s.amoId);
      assert.equal(leads.length, 1, 'one lead');
      assert.equal(leads[0]!.notes.length, 1, 'one note');
      assert.equal(row.status, 'DELIVERED');
      assert.equal(row.amoLeadId, leads[0]!.id);
      assert.equal(row.amoContactId, leads[0]!.contact_id);
    });
  }

  test('an answer that never comes (timeout, amoCRM created the lead): reconciled, not sent twice', async () => {
    const s = await setup();
    await createRule(tdb.db, s.cat, s.accountId, { quizId: 'quiz-1', pipelineAmoId: s.pipeline, statusAmoId: s.firstStatus });
    const rt = runtime({}, { amoClient: { backoffMs: 20, timeoutMs: 400 } });
    // warm up: the result-id field exists before the fault is armed
    await acceptResult(services, s.quizAccountId, simpleResult('slow-0'));
    await drain(rt, s.quizAccountId);
    sim.injectFault(s.amoId, { kind: 'slow', delayMs: 1000, count: 1, path: 'leads/complex' });
    const d = await acceptResult(services, s.quizAccountId, simpleResult('slow-1'));
    await runDeliveryPass(rt);
    const mid = await tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(mid.stage, 'SENDING');
    assert.equal(mid.status, 'PENDING');
    assert.equal(mid.reason, 'CONFIRMING');
    assert.match(mid.lastError ?? '', /may have received the lead \(amoCRM did not answer in time/);
    await new Promise((r) => setTimeout(r, 1200)); // amoCRM finishes the request
    await drain(rt, s.quizAccountId);
    const mine = sim.leads(s.amoId).filter((l) => (l.custom_fields_values ?? []).some((v) => v.values.some((x) => x.value === 'slow-1')));
    assert.equal(mine.length, 1);
    const row = await tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.amoLeadId, mine[0]!.id);
    assert.equal(mine[0]!.notes.length, 1);
  });

  test('a 502 on leads/complex (maybe processed, in fact not): reconciled, then sent once', async () => {
    const s = await setup();
    await createRule(tdb.db, s.cat, s.accountId, { quizId: 'quiz-1', pipelineAmoId: s.pipeline, statusAmoId: s.firstStatus });
    sim.injectFault(s.amoId, { kind: '5xx', status: 502, count: 1, path: 'leads/complex' });
    const d = await acceptResult(services, s.quizAccountId, simpleResult('502-1'));
    await drain(runtime(), s.quizAccountId);
    assert.equal(sim.leads(s.amoId).length, 1);
    const row = await tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.status, 'DELIVERED');
    assert.equal(row.attempts, 2);
    const searches = sim.requestLog(s.amoId).filter((r) => r.method === 'GET' && r.path.startsWith('/api/v4/leads?'));
    assert.ok(searches.length >= 1, 'searched before sending again');
  });
});

describe('accounts and amoCRM errors', () => {
  test('a stale account: results wait PENDING without spending attempts, then go out after a reconnect', async () => {
    const s = await setup();
    await createRule(tdb.db, s.cat, s.accountId, { quizId: 'quiz-1', pipelineAmoId: s.pipeline, statusAmoId: s.firstStatus });
    sim.revoke(s.amoId, TEST_AMO_CLIENT_ID);
    const events = await recordEvents(services.queue);
    try {
      for (let i = 0; i < 3; i++) await acceptResult(services, s.quizAccountId, simpleResult(`stale-${i}`));
      const rt = runtime();
      await runDeliveryPass(rt); // meets the 401: the account turns stale
      const acc = await tdb.db.amoAccount.findUniqueOrThrow({ where: { id: s.accountId } });
      assert.equal(acc.stale, true);
      assert.equal(await runDeliveryPass(rt), 0, 'a stale account is not claimed');
      const rows = await tdb.db.delivery.findMany({ where: { quizAccountId: s.quizAccountId } });
      assert.ok(
        rows.every((r) => r.status === 'PENDING' && r.attempts === 0 && r.stage === 'QUEUED'),
        JSON.stringify(rows.map((r) => [r.status, r.attempts, r.stage])),
      );
      await new Promise((r) => setTimeout(r, 50));
      assert.ok(events.events.some((e) => e.type === 'token.stale' && e.quizAccountId === s.quizAccountId));

      // the owner connects again
      const pair = sim.issueTokens(s.amoId, TEST_AMO_CLIENT_ID);
      await saveTokens(
        tdb.db,
        amoConfig.tokenEncryptionKey,
        s.accountId,
        { accessToken: pair.access_token, refreshToken: pair.refresh_token, expiresIn: pair.expires_in, accessExpiresAt: new Date(Date.now() + 86_400_000) },
        { reconnect: true },
      );
      await drain(rt, s.quizAccountId);
      assert.equal(sim.leads(s.amoId).length, 3);
      const done = await tdb.db.delivery.findMany({ where: { quizAccountId: s.quizAccountId } });
      assert.ok(done.every((r) => r.status === 'DELIVERED' && r.attempts === 1));
    } finally {
      await events.stop();
    }
  });

  test("a validation error no repair can fix: that lead FAILED with amoCRM's reason, the rest of the batch delivered; retryDelivery sends it again", async () => {
    const s = await setup();
    const acc = sim.account(s.amoId);
    const secondStatus = at(
      at(acc.pipelines, 0, 'pipeline').statuses.filter((x) => x.type === 0 && x.id !== 142 && x.id !== 143),
      1,
      'second ordinary status',
    ).id;
    const required = acc.fields.leads.find((f) => f.type === 'text' && !f.code)!;
    await createRule(tdb.db, s.cat, s.accountId, { quizId: 'quiz-ok', pipelineAmoId: s.pipeline, statusAmoId: secondStatus });
    await createRule(tdb.db, s.cat, s.accountId, { quizId: 'quiz-tag', pipelineAmoId: s.pipeline, statusAmoId: s.firstStatus });
    // the first step requires a field the quiz does not fill: without status_id the lead lands there too
    sim.updateField(s.amoId, 'leads', required.id, { required_statuses: [{ status_id: s.firstStatus, pipeline_id: s.pipeline }] });
    const events = await recordEvents(services.queue);
    try {
      const a = await acceptResult(services, s.quizAccountId, simpleResult('v-1', 'quiz-ok'));
      const bad = await acceptResult(services, s.quizAccountId, simpleResult('v-2', 'quiz-tag'));
      const c = await acceptResult(services, s.quizAccountId, simpleResult('v-3', 'quiz-ok'));
      await drain(runtime(), s.quizAccountId);
      const rows = new Map((await tdb.db.delivery.findMany({ where: { quizAccountId: s.quizAccountId } })).map((r) => [r.id, r]));
      assert.equal(rows.get(a.id)?.status, 'DELIVERED');
      assert.equal(rows.get(c.id)?.status, 'DELIVERED');
      const failed = rows.get(bad.id)!;
      assert.equal(failed.status, 'FAILED');
      assert.equal(failed.reason, 'AMO_REJECTED');
      assert.match(failed.lastError ?? '', /amoCRM refused the lead \(custom_fields_values: Field ".*" \(#\d+\) is required in status .*FieldMissing/);
      assert.equal(failed.stage, 'QUEUED');
      assert.equal(sim.leads(s.amoId).length, 2);

      // not FAILED → CONFLICT; another tenant's → NOT_FOUND
      await assert.rejects(retryDelivery(services, s.quizAccountId, a.id), (e: any) => e.extensions?.code === 'CONFLICT');
      await assert.rejects(retryDelivery(services, 'someone-else', bad.id), (e: any) => e.extensions?.code === 'NOT_FOUND');
      await assert.rejects(retryDelivery(services, s.quizAccountId, 'not-a-uuid'), (e: any) => e.extensions?.code === 'NOT_FOUND');

      // the account is fixed, then retried
      sim.updateField(s.amoId, 'leads', required.id, { required_statuses: [] });
      const retried = await retryDelivery(services, s.quizAccountId, bad.id);
      assert.equal(retried.status, 'PENDING');
      assert.equal(retried.attempts, 0);
      await drain(runtime(), s.quizAccountId);
      assert.equal((await tdb.db.delivery.findUniqueOrThrow({ where: { id: bad.id } })).status, 'DELIVERED');
      assert.equal(sim.leads(s.amoId).length, 3);

      await new Promise((r) => setTimeout(r, 100));
      const mine = events.events.filter((e) => e.type === 'delivery.updated' && e.quizAccountId === s.quizAccountId);
      const of = (id: string) => mine.filter((e) => e.deliveryId === id).map((e) => e.status);
      assert.deepEqual(of(a.id), ['PENDING', 'DELIVERED']);
      assert.deepEqual(of(bad.id), ['PENDING', 'FAILED', 'PENDING', 'DELIVERED']);
      assert.ok(mine.every((e) => typeof e.quizId === 'string'));
    } finally {
      await events.stop();
    }
  });
});

describe('notes in batches', () => {
  const calls = (amoId: number) => {
    const log = sim.requestLog(amoId);
    // a 429 is refused before amoCRM does anything (the client waits and sends it again): not counted
    const of = (method: string, re: RegExp) => log.filter((r) => r.method === method && r.status !== 429 && re.test(r.path.split('?')[0]!)).map((r) => r.status);
    return {
      complex: of('POST', /^\/api\/v4\/leads\/complex$/),
      batchNotes: of('POST', /^\/api\/v4\/leads\/notes$/),
      leadNotes: of('POST', /^\/api\/v4\/leads\/\d+\/notes$/),
      readNotes: of('GET', /^\/api\/v4\/leads\/\d+\/notes$/),
    };
  };

  /** Every lead of the account has exactly one note, and it names its result. */
  const oneNoteEach = (amoId: number, expectedLeads: number) => {
    const leads = sim.leads(amoId).filter((l) => !l.is_deleted);
    assert.equal(leads.length, expectedLeads);
    for (const l of leads) {
      assert.equal(l.notes.length, 1, `lead ${l.id}: ${l.notes.length} notes`);
      const rid = (l.custom_fields_values ?? []).flatMap((v) => v.values.map((x) => String(x.value))).find((v) => v.startsWith('nb-'));
      assert.ok(rid && String(l.notes[0]!.params.text).split('\n').includes(noteMarker(rid)), "the note carries its result's marker");
    }
  };

  async function withResults(n: number, prefix: string) {
    const s = await setup();
    await createRule(tdb.db, s.cat, s.accountId, { quizId: 'quiz-1', pipelineAmoId: s.pipeline, statusAmoId: s.firstStatus });
    const ds = [];
    for (let i = 0; i < n; i++) ds.push(await acceptResult(services, s.quizAccountId, simpleResult(`nb-${prefix}-${i}`)));
    return { s, ds };
  }

  test('one leads/notes call per batch of leads, no note call per lead', async () => {
    const { s } = await withResults(5, 'one');
    await drain(runtime(), s.quizAccountId);
    oneNoteEach(s.amoId, 5);
    assert.deepEqual(calls(s.amoId), { complex: [200], batchNotes: [200], leadNotes: [], readNotes: [] });

    // smaller batches: notes follow the lead batches
    const small = await withResults(5, 'small');
    await drain(runtime({}, { batchSize: 2 }), small.s.quizAccountId);
    oneNoteEach(small.s.amoId, 5);
    assert.deepEqual(calls(small.s.amoId), { complex: [200, 200, 200], batchNotes: [200, 200, 200], leadNotes: [], readNotes: [] });
    const rows = await tdb.db.delivery.findMany({ where: { quizAccountId: small.s.quizAccountId } });
    assert.ok(rows.every((r) => r.status === 'DELIVERED' && r.stage === 'DONE' && r.attempts === 1 && r.warnings.length === 0));
  });

  test('a lead deleted before its note: the others get theirs, that one is DELIVERED with a warning', async () => {
    const { s, ds } = await withResults(3, 'del');
    let fired = false;
    const hooks: DeliveryHooks = {
      async afterLeadCreated() {
        if (fired) return;
        fired = true;
        const row = await tdb.db.delivery.findUniqueOrThrow({ where: { id: at(ds, 1).id } });
        await sim.deleteLead(s.amoId, row.amoLeadId as number);
      },
    };
    await drain(runtime(hooks), s.quizAccountId);
    const rows = new Map((await tdb.db.delivery.findMany({ where: { quizAccountId: s.quizAccountId } })).map((r) => [r.id, r]));
    assert.ok([...rows.values()].every((r) => r.status === 'DELIVERED' && r.stage === 'DONE'));
    const warned = rows.get(at(ds, 1).id)!;
    assert.ok(
      warned.warnings.some((w) => /^note not added: amoCRM rejected the note: entity_id: .*\[NotFound\]/.test(w)),
      warned.warnings.join('\n'),
    );
    for (const d of [at(ds, 0), at(ds, 2)]) assert.ok(!rows.get(d.id)!.warnings.some((w) => /note/.test(w)));
    oneNoteEach(s.amoId, 2);
    assert.equal(sim.leads(s.amoId).find((l) => l.id === warned.amoLeadId)?.notes.length, 0);
    // the whole request was refused once, then sent again without the deleted lead
    assert.deepEqual(calls(s.amoId), { complex: [200], batchNotes: [400, 200], leadNotes: [], readNotes: [] });
  });

  test('a 502 on leads/notes: back to LEAD_CREATED, the marker is checked, one note each', async () => {
    const { s, ds } = await withResults(3, '502');
    sim.injectFault(s.amoId, { kind: '5xx', status: 502, count: 1, path: 'leads/notes' });
    const rt = runtime();
    await runDeliveryPass(rt);
    const mid = await tdb.db.delivery.findMany({ where: { quizAccountId: s.quizAccountId } });
    assert.ok(
      mid.every((r) => r.status === 'PENDING' && r.stage === 'LEAD_CREATED' && r.amoLeadId && /502/.test(r.lastError ?? '')),
      JSON.stringify(mid.map((r) => [r.stage, r.lastError])),
    );
    await drain(rt, s.quizAccountId);
    oneNoteEach(s.amoId, 3);
    const c = calls(s.amoId);
    // the three come back on their own (jittered) retry times: one or more batches
    assert.equal(c.batchNotes[0], 502);
    assert.ok(c.batchNotes.length >= 2 && c.batchNotes.slice(1).every((x) => x === 200), c.batchNotes.join());
    assert.equal(c.readNotes.length, 3, "each lead's notes read before posting again");
    assert.deepEqual(c.leadNotes, []);
    const rows = await tdb.db.delivery.findMany({ where: { id: { in: ds.map((d) => d.id) } } });
    assert.ok(rows.every((r) => r.status === 'DELIVERED' && r.warnings.length === 0));
  });

  test('a leads/notes call that times out after amoCRM stored the notes: none added twice', async () => {
    const { s } = await withResults(1, 'warm');
    const rt = runtime({}, { amoClient: { backoffMs: 20, timeoutMs: 400 } });
    await drain(rt, s.quizAccountId); // the result-id field exists before the fault is armed
    sim.clearRequestLog(s.amoId);
    sim.injectFault(s.amoId, { kind: 'slow', delayMs: 1000, count: 1, path: 'leads/notes' });
    for (let i = 0; i < 3; i++) await acceptResult(services, s.quizAccountId, simpleResult(`nb-slow-${i}`));
    await runDeliveryPass(rt);
    const mid = await tdb.db.delivery.findMany({ where: { quizAccountId: s.quizAccountId, status: 'PENDING' } });
    assert.equal(mid.length, 3);
    assert.ok(
      mid.every(
        (r) => r.stage === 'LEAD_CREATED' && r.reason === 'ADDING_NOTE' && /note with the answers could not be added yet \(amoCRM did not answer in time/.test(r.lastError ?? ''),
      ),
    );
    await new Promise((r) => setTimeout(r, 1200)); // amoCRM finishes the request
    await drain(rt, s.quizAccountId);
    oneNoteEach(s.amoId, 4);
    const c = calls(s.amoId);
    assert.equal(c.batchNotes.length, 1, 'no second post');
    assert.equal(c.readNotes.length, 3);
  });

  test('a crash at afterNote in the middle of a batch: the rest are found with their note, none added twice', async () => {
    const { s, ds } = await withResults(3, 'crash');
    let n = 0;
    const crashing = runtime({
      afterNote() {
        if (++n === 2) throw new Error('simulated crash at afterNote');
      },
    });
    await assert.rejects(runDeliveryPass(crashing), /simulated crash/);
    const mid = await tdb.db.delivery.findMany({ where: { id: { in: ds.map((d) => d.id) } } });
    assert.equal(mid.filter((r) => r.status === 'DELIVERED').length, 1, 'the first one was committed before the crash');
    assert.equal(mid.filter((r) => r.status === 'PENDING' && r.stage === 'LEAD_CREATED').length, 2);
    await expireLeases();
    await drain(runtime(), s.quizAccountId);
    oneNoteEach(s.amoId, 3);
    assert.deepEqual(calls(s.amoId), { complex: [200], batchNotes: [200], leadNotes: [], readNotes: [200, 200] });
  });
});

describe('claiming per account', () => {
  /** `accounts` accounts with `perAccount` due results each, interleaved oldest first: a0-0, a1-0, a2-0, a0-1, … */
  async function interleaved(accounts: number, perAccount: number, prefix: string) {
    const setups: Setup[] = [];
    for (let k = 0; k < accounts; k++) {
      const s = await setup();
      await createRule(tdb.db, s.cat, s.accountId, { quizId: 'quiz-1', pipelineAmoId: s.pipeline, statusAmoId: s.firstStatus });
      setups.push(s);
    }
    const ids: string[][] = setups.map(() => []);
    for (let i = 0; i < perAccount; i++) {
      for (let k = 0; k < accounts; k++) ids[k]!.push((await acceptResult(services, setups[k]!.quizAccountId, simpleResult(`${prefix}-${k}-${i}`))).id);
    }
    // due an hour ago, one millisecond apart in the interleaved order: older than anything else here
    await tdb.db.$executeRaw`
      UPDATE delivery SET next_attempt_at = now() - interval '1 hour'
        + ((split_part(result_id, '-', 3)::int * ${accounts} + split_part(result_id, '-', 2)::int) * interval '1 millisecond')
      WHERE quiz_account_id = ANY(${setups.map((s) => s.quizAccountId)}::text[])`;
    return { setups, ids };
  }

  const complexCalls = (amoId: number) =>
    sim
      .requestLog(amoId)
      .filter((r) => r.method === 'POST' && r.status === 200 && r.path.split('?')[0] === '/api/v4/leads/complex')
      .map((r) => (r.body as unknown[]).length);
  const batchNoteCalls = (amoId: number) => sim.requestLog(amoId).filter((r) => r.method === 'POST' && r.status === 200 && r.path.split('?')[0] === '/api/v4/leads/notes').length;

  test("3 accounts × 60 results interleaved: one claim takes each account's 50 oldest", async () => {
    const { setups, ids } = await interleaved(3, 60, 'pc');
    const batches = await claimDueDeliveries(services, { accounts: 3, batchSize: 50, leaseMs: 20_000 });
    try {
      assert.deepEqual(
        batches.map((b) => b.accountId),
        setups.map((s) => s.accountId),
        'the three accounts, oldest due first',
      );
      for (const [k, b] of batches.entries()) {
        assert.deepEqual(
          b.deliveries.map((d) => d.id),
          at(ids, k, 'account').slice(0, 50),
          `account ${k}: its 50 oldest, oldest first`,
        );
        assert.ok(b.deliveries.every((d) => d.accountId === b.accountId && d.lockedUntil?.getTime() === b.lease.getTime()));
      }
      // all leased: a second claim meanwhile gets only the rest, still per account
      const rest = await claimDueDeliveries(services, { accounts: 3, batchSize: 50, leaseMs: 20_000 });
      try {
        assert.deepEqual(
          rest.map((b) => [b.accountId, b.deliveries.map((d) => d.id)]),
          setups.map((s, k) => [s.accountId, ids[k]!.slice(50)]),
        );
      } finally {
        await tdb.db.delivery.updateMany({ where: { id: { in: rest.flatMap((b) => b.deliveries.map((d) => d.id)) } }, data: { lockedUntil: null } });
      }
    } finally {
      await tdb.db.delivery.updateMany({ where: { id: { in: batches.flatMap((b) => b.deliveries.map((d) => d.id)) } }, data: { lockedUntil: null } });
    }
    const limited = await claimDueDeliveries(services, { accounts: 2, batchSize: 50, leaseMs: 20_000 });
    await tdb.db.delivery.updateMany({ where: { id: { in: limited.flatMap((b) => b.deliveries.map((d) => d.id)) } }, data: { lockedUntil: null } });
    assert.deepEqual(
      limited.map((b) => [b.accountId, b.deliveries.length]),
      [
        [at(setups, 0).accountId, 50],
        [at(setups, 1).accountId, 50],
      ],
      'at most `accounts` accounts',
    );
  });

  test('3 accounts × 60 results interleaved: one pass sends one full leads/complex batch and one notes call per account', async () => {
    const { setups } = await interleaved(3, 60, 'pp');
    const rt = runtime();
    await runDeliveryPass(rt);
    for (const s of setups) {
      assert.deepEqual(complexCalls(s.amoId), [50], 'one leads/complex call of 50 leads');
      assert.equal(batchNoteCalls(s.amoId), 1);
      assert.equal(await tdb.db.delivery.count({ where: { quizAccountId: s.quizAccountId, status: 'DELIVERED' } }), 50);
    }
    for (const s of setups) await drain(rt, s.quizAccountId);
    for (const s of setups) {
      assert.deepEqual(complexCalls(s.amoId), [50, 10]);
      assert.equal(batchNoteCalls(s.amoId), 2);
      assert.equal(sim.leads(s.amoId).length, 60);
      assert.ok(sim.leads(s.amoId).every((l) => l.notes.length === 1));
    }
  });
});
