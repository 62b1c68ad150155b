// The lead amoCRM gets from a quiz result, end to end against the simulator: every field type,
// values that do not convert, an Unsorted rule. Taking results in: delivery-accept.test.ts; crashes
// and amoCRM errors: delivery-recovery.test.ts; batches of notes and claims: delivery-batches.test.ts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CustomField as SimField } from '@quiz-gateway/amo-sim';
import { acceptResult } from '../src/features/delivery/accept.ts';
import { RESULT_FIELD_CODE, resultMarker } from '../src/features/delivery/payload.ts';
import { at, only } from './helpers/narrow.ts';
import { createRule, simpleResult } from './helpers/delivery.ts';
import { deliverySuite } from './helpers/delivery-suite.ts';

const suite = deliverySuite({ sim: { rateLimitCountsRejected: true } });
const { runtime, drain, setup } = suite;

describe('the lead amoCRM gets', () => {
  test('answers for fields of every type land exactly as the rule says', async () => {
    const s = await setup();
    const acc = suite.sim.account(s.amoId);
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
    await createRule(suite.tdb.db, s.cat, s.accountId, {
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
    const d = await acceptResult(suite.services, s.quizAccountId, input);
    assert.equal(d.status, 'PENDING');
    await drain(runtime(), s.quizAccountId);

    const row = await suite.tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    const account = await suite.tdb.db.amoAccount.findUniqueOrThrow({ where: { id: s.accountId } });
    const resultField = suite.sim.account(s.amoId).fields.leads.find((f) => f.code === RESULT_FIELD_CODE);
    assert.ok(resultField, 'the result-id field was created');
    assert.equal(resultField.is_api_only, true);
    assert.equal(account.resultFieldId, resultField.id);

    const leads = suite.sim.leads(s.amoId);
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
        { field_id: resultField.id, values: [{ value: resultMarker(s.quizAccountId, 'res-all-1') }] },
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
    const acc = suite.sim.account(s.amoId);
    const num = acc.fields.leads.find((f) => f.type === 'numeric' && !f.code)!;
    const sel = acc.fields.leads.find((f) => f.type === 'select')!;
    const chk = acc.fields.leads.find((f) => f.type === 'checkbox')!;
    await createRule(suite.tdb.db, s.cat, s.accountId, {
      quizId: 'quiz-bad',
      pipelineAmoId: s.pipeline,
      statusAmoId: s.firstStatus,
      mappings: [
        { target: 'LEAD', source: 'QUESTION', key: 'area', fieldAmoId: num.id },
        { target: 'LEAD', source: 'QUESTION', key: 'city', fieldAmoId: sel.id },
        { target: 'LEAD', source: 'QUESTION', key: 'agree', fieldAmoId: chk.id },
      ],
    });
    const d = await acceptResult(suite.services, s.quizAccountId, {
      resultId: 'bad-1',
      quizId: 'quiz-bad',
      answers: [
        { questionId: 'area', title: 'Площадь', values: ['около сорока'] },
        { questionId: 'city', title: 'Город', values: ['Атлантида'] },
        { questionId: 'agree', title: 'Согласие', values: ['yes'] },
      ],
    });
    await drain(runtime(), s.quizAccountId);
    const row = await suite.tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.status, 'DELIVERED');
    const lead = only(suite.sim.leads(s.amoId), 'lead');
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
    await createRule(suite.tdb.db, s.cat, s.accountId, { quizId: 'quiz-u', pipelineAmoId: s.pipeline, statusAmoId: s.firstStatus, toUnsorted: true });
    await acceptResult(suite.services, s.quizAccountId, {
      ...simpleResult('u-1', 'quiz-u'),
      leadName: 'Заявка с лендинга',
      submittedAt: '2026-11-21T10:00:00Z',
      formPage: 'https://landing.example/quiz',
      ip: '203.0.113.7',
      referer: 'https://ya.ru/',
    });
    await acceptResult(suite.services, s.quizAccountId, simpleResult('u-2', 'quiz-u'));
    await drain(runtime(), s.quizAccountId);
    const leads = suite.sim.leads(s.amoId).sort((a, b) => a.id - b.id);
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
