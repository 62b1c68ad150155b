// The rule's extras, branch by branch with fakes: the lead-name template (lead-name.ts), the price
// from an answer (price.ts), tags by name (tag-names.ts), file answers in buildLead and the note,
// and the checks made when a rule is saved (rules/extras.ts). No PostgreSQL, no simulator: the
// whole against both is test/rule-extras.test.ts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLeadNameTemplate, renderLeadName } from '../src/features/delivery/lead-name.ts';
import { parsePrice, priceFromAnswer } from '../src/features/delivery/price.ts';
import { nameTagsOf, resolveTagNames, tagNamesOf } from '../src/features/delivery/tag-names.ts';
import { buildLead, type PayloadContext } from '../src/features/delivery/payload.ts';
import { quizResultSchema, type QuizResult } from '../src/features/delivery/input.ts';
import { resolveRuleExtras } from '../src/features/rules/extras.ts';
import { AmoServerError, AmoValidationError, type AmoClient } from '../src/platform/amo/index.ts';
import type { Db } from '../src/platform/db.ts';

const NOW = new Date('2026-12-03T10:15:00Z');
const result = (over: Record<string, unknown> = {}): QuizResult =>
  quizResultSchema.parse({
    resultId: 'r1',
    quizId: 'quiz-7',
    quizName: 'Ремонт',
    contact: { name: 'Иван', phone: '+7 900 111-22-33', email: 'i@example.com' },
    answers: [
      { questionId: 'q1', title: 'Площадь', values: ['42'] },
      { questionId: 'q2', values: ['a', 'b'] },
      { questionId: 'file', title: 'План', values: [], files: [{ url: 'https://files.example.com/plan.pdf', name: 'plan.pdf' }] },
    ],
    utm: [{ key: 'utm_source', value: 'yandex' }],
    submittedAt: '2026-11-21T08:05:00Z',
    ...over,
  });

describe('lead-name template', () => {
  test('every placeholder renders from the result', () => {
    const t = '{quizName}|{quizId}|{resultId}|{contactName}|{contactPhone}|{contactEmail}|{answer:q1}|{answer:q2}|{answer:file}|{utm:UTM_SOURCE}|{date}|{dateTime}|{ leadName }';
    assert.equal(
      renderLeadName(t, result({ leadName: 'own' }), NOW),
      'Ремонт|quiz-7|r1|Иван|+7 900 111-22-33|i@example.com|42|a, b|plan.pdf|yandex|2026-11-21|2026-11-21 08:05|own',
    );
  });

  test('a placeholder without a value renders empty; spaces collapse and the name is trimmed; empty → null (the default name)', () => {
    const r = result({ contact: { phone: '1' }, quizName: undefined, utm: undefined });
    assert.equal(renderLeadName('  Quiz {quizName}:   {contactName} {utm:x} ', r, NOW), 'Quiz :');
    assert.equal(renderLeadName('{contactName} {answer:nope}', r, NOW), null);
    assert.equal(renderLeadName('Quiz {quizName}', result({ quizName: undefined, formName: 'Форма' }), NOW), 'Quiz Форма', 'formName stands for quizName');
    assert.equal(renderLeadName('{date}', result({ submittedAt: undefined }), NOW), '2026-12-03', 'no submittedAt: now');
    assert.equal(renderLeadName(null, r, NOW), null);
    assert.equal(renderLeadName('x'.repeat(300), r, NOW)?.length, 255);
  });

  test('unknown placeholders and a { without } are refused, saying which', () => {
    const bad = (t: string) => {
      const p = parseLeadNameTemplate(t);
      assert.equal(p.ok, false, t);
      return p.ok ? '' : p.reason;
    };
    assert.match(bad('Quiz {quiz}'), /unknown placeholder \{quiz\}/);
    assert.match(bad('{answer:}'), /unknown placeholder \{answer:\}/);
    assert.match(bad('{utm}'), /unknown placeholder/);
    assert.match(bad('Quiz {quizName'), /"\{" without its "\}" at character 6/);
    assert.match(bad('{a{quizName}'), /without its/);
    assert.equal(parseLeadNameTemplate('plain } text').ok, true);
  });
});

describe('price from an answer', () => {
  test('digits with spaces, one decimal separator, grouped thousands, a currency sign; rounded half up', () => {
    const cases: [string, number | null][] = [
      ['15 000 ₽', 15000],
      ['15\u00a0000', 15000],
      ['$1200', 1200],
      ['1200 руб.', 1200],
      ['1200 RUB', 1200],
      ['1,5', 2],
      ['1.4', 1],
      ['1,500,000', 1500000],
      ['1.500.000', 1500000],
      ['1,500.50', 1501],
      ['1.500,49', 1500],
      ['0', 0],
      // one separator before exactly three digits, 1–3 digits before it: thousands
      ['15,000', 15000],
      ['1.500', 1500],
      ['999,999 ₽', 999999],
      // otherwise one separator is the decimal one
      ['1,50', 2],
      ['15,0000', 15],
      ['1234,567', 1235],
      ['0,500', 1],
      ['0.499', 0],
      ['1,5k', null],
      ['about 100', null],
      ['-5', null],
      ['1,50,0', null],
      ['1,500.000.5', null],
      ['1.', null],
      ['', null],
      ['99999999999', null],
    ];
    for (const [s, want] of cases) assert.equal(parsePrice(s), want, JSON.stringify(s));
  });

  test('the rule question sets the price; a non-numeric answer is a problem and no price; unanswered: nothing', () => {
    const r = result({
      answers: [
        { questionId: 'budget', title: 'Бюджет', values: ['', '15 000 ₽'] },
        { questionId: 'bad', values: ['много'] },
      ],
    });
    assert.deepEqual(priceFromAnswer(r, 'budget'), { price: 15000 });
    const bad = priceFromAnswer(r, 'bad');
    assert.equal(bad.price, undefined);
    assert.equal(bad.problem?.value, 'много');
    assert.match(bad.problem?.where ?? '', /lead price ← question bad/);
    assert.deepEqual(priceFromAnswer(r, 'missing'), {});
    assert.deepEqual(priceFromAnswer(r, null), {});
  });
});

const ctxOf = (rule: Partial<PayloadContext['rule']> = {}): PayloadContext => ({
  rule: { quizId: 'quiz-7', pipelineAmoId: 1, stepAmoId: 2, performerAmoId: null, toUnsorted: false, mergeDuplicates: false, mappings: [], tags: [], ...rule },
  utms: [],
  fields: [],
  resultFieldId: null,
});

describe('tags by name', () => {
  test('tagNamesOf reads the stored JSON per entity, skipping what is not a name', () => {
    assert.deepEqual(tagNamesOf({ lead: ['A', '', 3], contact: ['B'], other: ['x'] }), [
      { entity: 'LEAD', name: 'A' },
      { entity: 'CONTACT', name: 'B' },
    ]);
    assert.deepEqual(tagNamesOf(null), []);
  });

  function fakes(
    cached: { name: string; amoId: number }[],
    create: (names: string[]) => Promise<{ id: number; name: string; color: string | null }[]>,
    amoHas: { entity: string; id: number; name: string }[] = [],
  ) {
    const upserts: unknown[] = [];
    const created: string[][] = [];
    const searched: string[] = [];
    const db = {
      tag: {
        findMany: async (q: { where: { OR: { name: { equals: string } }[] } }) =>
          cached.filter((t) => q.where.OR.some((o) => o.name.equals.toLowerCase() === t.name.toLowerCase())),
        upsert: async (q: unknown) => upserts.push(q),
      },
    } as unknown as Db;
    const client = {
      createTags: async (_e: string, names: string[]) => {
        created.push(names);
        return create(names);
      },
      searchTags: async (entity: string, query: string) => {
        searched.push(`${entity}:${query}`);
        return amoHas.filter((t) => t.entity === entity && t.name.toLowerCase().includes(query.toLowerCase())).map((t) => ({ id: t.id, name: t.name, color: null }));
      },
    } as unknown as AmoClient;
    return { db, client, upserts, created, searched };
  }

  test('a cached name (any case) is used as its id; a missing one is created once, cached and used as its id', async () => {
    const f = fakes([{ name: 'VIP', amoId: 10 }], async (names) => names.map((name, i) => ({ id: 100 + i, name, color: null })));
    const ctx = ctxOf({ tagNames: tagNamesOf({ lead: ['vip', 'Новый', 'новый'] }) });
    const out = await resolveTagNames({ db: f.db, client: f.client, accountId: 'acc' }, ctx);
    assert.deepEqual(f.created, [['Новый']]);
    assert.equal(f.upserts.length, 1);
    assert.deepEqual(f.searched, []);
    assert.deepEqual(nameTagsOf(out, 'LEAD', []), [{ id: 10 }, { id: 100 }]);
    assert.deepEqual(nameTagsOf(out, 'LEAD', [{ id: 10 }]), [{ id: 100 }], 'a tag the rule also names by id goes once');
  });

  test('amoCRM refuses a name it has (NotUnique): each missing name is looked up and cached; one not found goes by name', async () => {
    const f = fakes(
      [],
      async () => {
        throw new AmoValidationError('NotUnique', []);
      },
      [
        { entity: 'leads', id: 55, name: 'КВИЗ' },
        { entity: 'leads', id: 56, name: 'Квиз 2' },
      ],
    );
    const warned: unknown[] = [];
    const ctx = ctxOf({ tagNames: tagNamesOf({ lead: ['Квиз'], contact: ['Клиент'] }) });
    const out = await resolveTagNames({ db: f.db, client: f.client, accountId: 'acc', log: { warn: (o) => warned.push(o) } }, ctx);
    assert.deepEqual(f.searched, ['leads:Квиз', 'contacts:Клиент']);
    assert.deepEqual(nameTagsOf(out, 'LEAD', []), [{ id: 55 }], 'the exact name (any case), not one containing it');
    assert.deepEqual(nameTagsOf(out, 'CONTACT', []), [{ name: 'Клиент' }]);
    assert.equal(f.upserts.length, 1, 'the found tag is cached');
    assert.equal(warned.length, 2);
  });

  test('any other failure (5xx, timeout): no lookup, the names go by name (amoCRM attaches or creates them with the lead)', async () => {
    const f = fakes([], async () => {
      throw new AmoServerError('502', { status: 502, maybeProcessed: true });
    });
    const out = await resolveTagNames({ db: f.db, client: f.client, accountId: 'acc' }, ctxOf({ tagNames: tagNamesOf({ lead: ['Квиз'] }) }));
    assert.deepEqual(f.searched, []);
    assert.deepEqual(nameTagsOf(out, 'LEAD', []), [{ name: 'Квиз' }]);
    assert.equal(f.upserts.length, 0);
  });

  test('no names: no lookup, no call', async () => {
    const f = fakes([], async () => assert.fail('no call'));
    const ctx = ctxOf();
    assert.equal(await resolveTagNames({ db: f.db, client: f.client, accountId: 'acc' }, ctx), ctx);
  });
});

describe('buildLead with the extras', () => {
  const urlField = { amoId: 501, entity: 'LEAD' as const, name: 'План', code: null, rawType: 'url', options: [] };
  const textField = { amoId: 502, entity: 'LEAD' as const, name: 'Файлы', code: null, rawType: 'text', options: [] };
  const contactFields = (['PHONE', 'EMAIL'] as const).map((code, i) => ({ amoId: 900 + i, entity: 'CONTACT' as const, name: code, code, rawType: 'multitext', options: [] }));
  const ctx = ctxOf({
    leadNameTemplate: 'Quiz {quizName}: {contactName}',
    priceQuestionId: 'budget',
    mappings: [
      { target: 'LEAD', source: 'QUESTION', key: 'file', field: urlField },
      { target: 'LEAD', source: 'QUESTION', key: 'files', field: textField },
    ],
    tags: [{ entity: 'LEAD', amoId: 7, name: 'old' }],
    tagNames: [
      { entity: 'LEAD', name: 'Новый', amoId: 100 },
      { entity: 'LEAD', name: 'Ещё' },
    ],
  });
  ctx.fields = contactFields;
  const r = result({
    answers: [
      { questionId: 'budget', values: ['15 000 ₽'] },
      { questionId: 'file', title: 'План', values: [], files: [{ url: 'https://files.example.com/plan.pdf', name: 'plan.pdf' }] },
      { questionId: 'files', values: [], files: [{ url: 'https://f.example.com/1.jpg' }, { url: 'https://f.example.com/2.jpg', name: '2.jpg' }] },
    ],
  });

  test('name from the template, price from the answer, tags by id and name, file URLs in the fields and the note', () => {
    const built = buildLead(r, ctx, { now: NOW });
    assert.equal(built.lead.name, 'Quiz Ремонт: Иван');
    assert.equal(built.lead.price, 15000);
    assert.deepEqual(built.lead._embedded?.tags, [{ id: 7 }, { id: 100 }, { name: 'Ещё' }]);
    assert.deepEqual(built.lead.custom_fields_values, [
      { field_id: 501, values: [{ value: 'https://files.example.com/plan.pdf' }] },
      { field_id: 502, values: [{ value: 'https://f.example.com/1.jpg, https://f.example.com/2.jpg' }] },
    ]);
    assert.match(built.note, /2\. План: plan\.pdf \(https:\/\/files\.example\.com\/plan\.pdf\)/);
    assert.match(built.note, /3\. files: https:\/\/f\.example\.com\/1\.jpg, 2\.jpg \(https:\/\/f\.example\.com\/2\.jpg\)/);
    assert.deepEqual(built.warnings, []);
  });

  test("a price answer that is not a number: no price (the result's own is kept), a warning and a note line", () => {
    const bad = result({ price: 99, answers: [{ questionId: 'budget', values: ['1,5k'] }] });
    const built = buildLead(bad, ctx, { now: NOW });
    assert.equal(built.lead.price, 99);
    assert.equal(built.warnings.length, 1);
    assert.match(built.warnings[0] ?? '', /lead price ← question budget: "1,5k" — is not a price/);
    assert.match(built.note, /Not transferred to fields:\n- lead price/);
    assert.equal(buildLead(result({ answers: [{ questionId: 'budget', values: ['x'] }] }), ctx, { now: NOW }).lead.price, undefined);
  });

  test("without a template the name is as before: the result's leadName, else the default", () => {
    const plain = ctxOf();
    assert.equal(buildLead(result({ leadName: 'Своё' }), plain, { now: NOW }).lead.name, 'Своё');
    assert.equal(buildLead(result(), plain, { now: NOW }).lead.name, 'Quiz quiz-7: Иван');
    assert.equal(buildLead(result({ contact: undefined }), ctxOf({ leadNameTemplate: '{contactName}' }), { now: NOW }).lead.name, 'Quiz quiz-7: result r1');
  });

  test('a file URL must be an absolute http(s) URL', () => {
    const parsed = quizResultSchema.safeParse({ resultId: 'r', quizId: 'q', answers: [{ questionId: 'f', values: [], files: [{ url: 'javascript:alert(1)' }] }] });
    assert.equal(parsed.success, false);
    assert.deepEqual(parsed.error?.issues[0]?.path, ['answers', 0, 'files', 0, 'url']);
  });
});

describe('saving a rule: the extras are checked, each problem naming its input path', () => {
  const check = (input: Parameters<typeof resolveRuleExtras>[0]) => {
    const issues: { path: (string | number)[]; message: string }[] = [];
    const out = resolveRuleExtras(input, ['input'], issues);
    return { out, issues: issues.map((i) => `${i.path.join('.')} ${i.message}`) };
  };

  test('tag names: empty, too long and duplicates (any case) are refused; names are trimmed', () => {
    const { issues } = check({ tagNamesToAdd: { lead: ['VIP', ' ', 'x'.repeat(256), 'vip'], contact: ['ok'] } });
    assert.deepEqual(issues, [
      'input.tagNamesToAdd.lead.1 must not be empty',
      'input.tagNamesToAdd.lead.2 is longer than 255 characters',
      'input.tagNamesToAdd.lead.3 "vip" is already entry 0 (amoCRM matches tag names case-insensitively)',
    ]);
    assert.deepEqual(check({ tagNamesToAdd: { lead: ['  Из   квиза '] } }).out.tagNames, { lead: ['Из квиза'] });
    assert.match(check({ tagNamesToAdd: { customer: Array.from({ length: 101 }, (_, i) => `t${i}`) } }).issues[0] ?? '', /input\.tagNamesToAdd\.customer has more than 100/);
  });

  test('the template: an unknown placeholder is refused at input.leadNameTemplate; "" or null clears; left out: not written', () => {
    assert.match(check({ leadNameTemplate: 'Quiz {name}' }).issues[0] ?? '', /^input\.leadNameTemplate has an unknown placeholder \{name\}/);
    assert.deepEqual(check({ leadNameTemplate: ' Quiz {quizName} ' }).out, { leadNameTemplate: 'Quiz {quizName}' });
    assert.deepEqual(check({ leadNameTemplate: '' }).out, { leadNameTemplate: null });
    assert.deepEqual(check({ leadNameTemplate: null }).out, { leadNameTemplate: null });
    assert.deepEqual(check({}).out, {});
  });

  test('the price question: empty or too long refused at input.priceQuestionId; null clears', () => {
    assert.deepEqual(check({ priceQuestionId: ' ' }).issues, ['input.priceQuestionId must not be empty (null clears it)']);
    assert.match(check({ priceQuestionId: 'q'.repeat(256) }).issues[0] ?? '', /input\.priceQuestionId is longer/);
    assert.deepEqual(check({ priceQuestionId: 12 }).out, { priceQuestionId: '12' });
    assert.deepEqual(check({ priceQuestionId: null }).out, { priceQuestionId: null });
  });
});
