import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { convertAnswer, parseCheckbox, parseDate, parseDecimal, parseUrl, type ConvertField } from '../src/features/delivery/convert.ts';

const f = (rawType: string, options: string[] = []): ConvertField => ({
  amoId: 100,
  rawType,
  options: options.map((value, i) => ({ amoId: 1000 + i, value, sort: i })),
});
const ok = (field: ConvertField, values: string[]) => {
  const r = convertAnswer(field, values);
  assert.equal(r.ok, true, `expected ${JSON.stringify(values)} to convert for ${field.rawType}: ${!r.ok ? r.reason : ''}`);
  return r.ok ? r.entry.values : [];
};
const no = (field: ConvertField, values: string[]) => {
  const r = convertAnswer(field, values);
  assert.equal(r.ok, false, `expected ${JSON.stringify(values)} not to convert for ${field.rawType}`);
  return r.ok ? '' : r.reason;
};

describe('convert: checkbox', () => {
  test('true and false words in any case, Russian included', () => {
    for (const w of ['true', 'YES', 'Да', '1', 'on', ' On ']) assert.deepEqual(ok(f('checkbox'), [w]), [{ value: true }], w);
    for (const w of ['false', 'No', 'НЕТ', '0', 'off']) assert.deepEqual(ok(f('checkbox'), [w]), [{ value: false }], w);
    assert.equal(parseCheckbox('maybe'), null);
  });
  test('anything else does not convert, with a reason', () => {
    assert.match(no(f('checkbox'), ['maybe']), /not yes\/no/);
    assert.match(no(f('checkbox'), ['yes', 'no']), /2 values/);
    assert.match(no(f('checkbox'), ['  ']), /empty/);
  });
});

describe('convert: numbers', () => {
  test('comma or dot, spaces allowed; sent as a string', () => {
    for (const t of ['numeric', 'price', 'monetary']) {
      assert.deepEqual(ok(f(t), ['1 234,50']), [{ value: '1234.50' }]);
      assert.deepEqual(ok(f(t), ['42']), [{ value: '42' }]);
      assert.deepEqual(ok(f(t), ['-3.5']), [{ value: '-3.5' }]);
      assert.deepEqual(ok(f(t), ['1\u00a0000']), [{ value: '1000' }]);
    }
    assert.equal(parseDecimal(',5'), '0.5');
    assert.equal(parseDecimal('007'), '7');
    assert.equal(parseDecimal('-0,0'), '0.0');
  });
  test('thousands: one separator before exactly three digits (1–3 digits before it), repeated, or beside the decimal one', () => {
    assert.deepEqual(ok(f('numeric'), ['15,000']), [{ value: '15000' }]);
    assert.deepEqual(ok(f('price'), ['1.500']), [{ value: '1500' }]);
    assert.deepEqual(ok(f('monetary'), ['-999,999']), [{ value: '-999999' }]);
    assert.equal(parseDecimal('1,500,000'), '1500000');
    assert.equal(parseDecimal('1.500.000'), '1500000');
    assert.equal(parseDecimal('1,234.5'), '1234.5');
    assert.equal(parseDecimal('1.234,50'), '1234.50');
  });
  test('one separator otherwise is the decimal one', () => {
    assert.equal(parseDecimal('1,5'), '1.5');
    assert.equal(parseDecimal('1.50'), '1.50');
    assert.equal(parseDecimal('15,0000'), '15.0000');
    assert.equal(parseDecimal('1234,567'), '1234.567');
    assert.equal(parseDecimal('0,500'), '0.500');
    assert.equal(parseDecimal('054,500'), '54.500');
    // spaces grouped the thousands already: 1234,567 has four digits before the comma
    assert.equal(parseDecimal('1 234,567'), '1234.567');
  });
  test('text, two separators, several values do not convert', () => {
    assert.match(no(f('numeric'), ['abc']), /"abc" is not a number/);
    assert.match(no(f('numeric'), ['1,2,3']), /not a number/);
    assert.match(no(f('numeric'), ['1,234,5']), /not a number/);
    assert.match(no(f('numeric'), ['1.234.5,6,7']), /not a number/);
    assert.match(no(f('numeric'), ['1,5.3']), /not a number/);
    assert.match(no(f('numeric'), ['1.']), /not a number/);
    assert.match(no(f('numeric'), ['12abc']), /not a number/);
    assert.match(no(f('price'), ['1', '2']), /2 values/);
  });
});

describe('convert: dates', () => {
  test('YYYY-MM-DD, DD.MM.YYYY and ISO-8601 → unix seconds', () => {
    const day = Date.UTC(2026, 10, 21) / 1000;
    for (const t of ['date', 'date_time', 'birthday']) {
      assert.deepEqual(ok(f(t), ['2026-11-21']), [{ value: day }]);
      assert.deepEqual(ok(f(t), ['21.11.2026']), [{ value: day }]);
      assert.deepEqual(ok(f(t), ['2026-11-21T10:00:00.000Z']), [{ value: day + 36_000 }]);
      assert.deepEqual(ok(f(t), ['2026-11-21T13:00:00+03:00']), [{ value: day + 36_000 }]);
    }
    assert.equal(parseDate('1.2.2026'), Date.UTC(2026, 1, 1) / 1000);
  });
  test('impossible or other formats do not convert', () => {
    for (const v of ['2026-02-30', '31.04.2026', '2026/11/21', 'tomorrow', '11-21-2026', '2026-11-21T25:00:00Z']) {
      assert.match(no(f('date'), [v]), /not a date/, v);
    }
  });
});

describe('convert: options', () => {
  const select = f('select', ['Москва', 'Санкт-Петербург', 'Other']);
  test('select, radiobutton, category: the option by value, trimmed, any case → enum_id', () => {
    for (const t of ['select', 'radiobutton', 'category']) {
      const field = { ...select, rawType: t };
      assert.deepEqual(ok(field, ['  москва ']), [{ enum_id: 1000 }]);
      assert.deepEqual(ok(field, ['OTHER']), [{ enum_id: 1002 }]);
      assert.match(no(field, ['Казань']), /"Казань" is not an option.*"Москва"/);
      assert.match(no(field, ['Москва', 'Other']), /2 values/);
    }
  });
  test('multiselect: several; unknown ones are dropped with a reason; none known → no conversion', () => {
    const ms = f('multiselect', ['Звонок', 'Email', 'Telegram']);
    const r = convertAnswer(ms, ['email', 'Telegram', 'Pigeon', 'EMAIL']);
    assert.equal(r.ok, true);
    if (r.ok) {
      assert.deepEqual(r.entry, { field_id: 100, values: [{ enum_id: 1001 }, { enum_id: 1002 }] });
      assert.equal(r.dropped?.length, 1);
      assert.match(r.dropped?.[0]?.reason ?? '', /"Pigeon"/);
    }
    assert.match(no(ms, ['Pigeon']), /"Pigeon" is not an option/);
  });
});

describe('convert: text-like, multitext, url, addresses', () => {
  test('text, textarea, streetaddress, tracking_data: the strings', () => {
    for (const t of ['text', 'textarea', 'streetaddress', 'tracking_data']) {
      assert.deepEqual(ok(f(t), [' hello ']), [{ value: 'hello' }]);
      assert.deepEqual(ok(f(t), ['a', 'b']), [{ value: 'a, b' }]);
    }
  });
  test('multitext: each value with enum_code WORK', () => {
    assert.deepEqual(ok(f('multitext'), ['+7 900 000-00-00', 'x@y.ru']), [
      { value: '+7 900 000-00-00', enum_code: 'WORK' },
      { value: 'x@y.ru', enum_code: 'WORK' },
    ]);
  });
  test('url: absolute http(s) only', () => {
    assert.deepEqual(ok(f('url'), ['https://example.com/a?b=1']), [{ value: 'https://example.com/a?b=1' }]);
    assert.deepEqual(ok(f('url'), ['HTTP://example.com']), [{ value: 'HTTP://example.com' }]);
    for (const v of ['example.com', 'ftp://example.com', 'javascript:alert(1)', '/relative', 'http://']) assert.match(no(f('url'), [v]), /not an absolute/, v);
    assert.equal(parseUrl('mailto:x@y.ru'), null);
  });
  test('smart_address → address_line_1; legal_entity → {name}', () => {
    assert.deepEqual(ok(f('smart_address'), ['Москва, Тверская 1']), [{ value: 'Москва, Тверская 1', enum_code: 'address_line_1' }]);
    assert.deepEqual(ok(f('legal_entity'), ['ООО Ромашка']), [{ value: { name: 'ООО Ромашка' } }]);
  });
  test('unsupported and unknown types do not convert; nothing throws', () => {
    for (const t of ['file', 'items', 'linked_entity', 'chained_list', 'something_new', '']) assert.match(no(f(t), ['x']), /cannot be filled/, t);
    assert.doesNotThrow(() => convertAnswer({ amoId: 1, rawType: 'select', options: null }, ['x']));
    assert.match(no({ amoId: 1, rawType: 'select', options: null }, ['x']), /no options/);
  });
});
