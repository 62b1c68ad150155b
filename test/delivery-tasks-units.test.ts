// Units of tasks and assignment, no database: the working-hours deadline (each branch, time zones),
// the task as sent, and the choice of the responsible user (round-robin turns, uniform picks,
// deactivated users skipped, the fallback's warning).
import { describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { taskDeadline, type WorkingHours } from '../src/features/delivery/deadline.ts';
import { chooseUser, noUserWarning, taskResponsible, usableCandidates, type RuleExtras } from '../src/features/delivery/assign.ts';
import { taskBody } from '../src/features/delivery/tasks.ts';
import { delivery } from './helpers/delivery-fakes.ts';

const WEEKDAYS = [1, 2, 3, 4, 5];
const msk = (iso: string) => new Date(`${iso}+03:00`);
const hours = (patch: Partial<WorkingHours> = {}): WorkingHours => ({ days: WEEKDAYS, from: 9 * 60, to: 18 * 60, timezone: 'Europe/Moscow', ...patch });
const due = (from: Date, minutes: number, h: WorkingHours | null) => taskDeadline(from, minutes, h).toISOString();

describe('task deadline in working hours', () => {
  test('inside working hours: plain offset', () => {
    // Wednesday 10:00 Moscow
    assert.equal(due(msk('2026-12-02T10:00:00'), 15, hours()), msk('2026-12-02T10:15:00').toISOString());
  });

  test('after hours: the next working day start + the offset', () => {
    assert.equal(due(msk('2026-12-02T19:00:00'), 15, hours()), msk('2026-12-03T09:15:00').toISOString());
    // before the day starts, the same day's start
    assert.equal(due(msk('2026-12-02T07:30:00'), 15, hours()), msk('2026-12-02T09:15:00').toISOString());
  });

  test('running past the end of the day carries the remainder into the next working period', () => {
    // 10 minutes left today, 5 tomorrow
    assert.equal(due(msk('2026-12-02T17:50:00'), 15, hours()), msk('2026-12-03T09:05:00').toISOString());
    // exactly to the end stays at the end
    assert.equal(due(msk('2026-12-02T17:45:00'), 15, hours()), msk('2026-12-02T18:00:00').toISOString());
  });

  test('weekend: Monday; Friday evening carries over the weekend', () => {
    assert.equal(due(msk('2026-12-05T12:00:00'), 15, hours()), msk('2026-12-07T09:15:00').toISOString());
    assert.equal(due(msk('2026-12-04T17:55:00'), 15, hours()), msk('2026-12-07T09:10:00').toISOString());
    // a long offset spans several working days: 10 h 10 min from Friday 17:00 = 1 h Friday + 9 h Monday + 10 min Tuesday
    assert.equal(due(msk('2026-12-04T17:00:00'), 10 * 60 + 10, hours()), msk('2026-12-08T09:10:00').toISOString());
  });

  test('near midnight: late evening and hours that end at midnight', () => {
    assert.equal(due(msk('2026-12-02T23:55:00'), 15, hours()), msk('2026-12-03T09:15:00').toISOString());
    const evening = hours({ from: 22 * 60, to: 24 * 60 });
    assert.equal(due(msk('2026-12-02T23:50:00'), 15, evening), msk('2026-12-03T22:05:00').toISOString());
    // just after midnight on a working day, before its evening hours
    assert.equal(due(msk('2026-12-03T00:05:00'), 15, evening), msk('2026-12-03T22:15:00').toISOString());
  });

  test('the hours are in the rule’s time zone: one instant, three zones', () => {
    const at = new Date('2026-12-02T08:50:00Z'); // 11:50 Moscow, 18:50 Vladivostok, 03:50 New York
    assert.equal(due(at, 15, hours()), '2026-12-02T09:05:00.000Z');
    // Vladivostok (UTC+10) is past its day: Thursday 09:15 there
    assert.equal(due(at, 15, hours({ timezone: 'Asia/Vladivostok' })), '2026-12-02T23:15:00.000Z');
    // New York (UTC−5) has not started yet: 09:15 there
    assert.equal(due(at, 15, hours({ timezone: 'America/New_York' })), '2026-12-02T14:15:00.000Z');
  });

  test('across a DST change the working day starts at its wall-clock time', () => {
    // Europe/Berlin goes to summer time on Sunday 2027-03-28: Friday 17:55 CET + 15 min → Monday 09:10 CEST (07:10Z)
    assert.equal(due(new Date('2027-03-26T16:55:00Z'), 15, hours({ timezone: 'Europe/Berlin' })), '2027-03-29T07:10:00.000Z');
  });

  test('no working hours (no days, or an empty day): the plain offset; an unknown zone falls back to Moscow', () => {
    const at = msk('2026-12-05T23:00:00');
    assert.equal(due(at, 30, null), msk('2026-12-05T23:30:00').toISOString());
    assert.equal(due(at, 30, hours({ days: [] })), msk('2026-12-05T23:30:00').toISOString());
    assert.equal(due(at, 30, hours({ from: 600, to: 600 })), msk('2026-12-05T23:30:00').toISOString());
    assert.equal(due(msk('2026-12-02T19:00:00'), 15, hours({ timezone: 'Mars/Olympus' })), msk('2026-12-03T09:15:00').toISOString());
  });

  test('the task as sent: the rule’s text, type and responsible, due from the current time (mocked clock)', (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: msk('2026-12-02T19:00:00').getTime() });
    const body = taskBody({ text: 'Позвонить', typeId: 2, deadlineMinutes: 15, hours: hours() }, 555, 42, 'd-1', new Date());
    assert.deepEqual(body, {
      text: 'Позвонить',
      complete_till: msk('2026-12-03T09:15:00').getTime() / 1000,
      task_type_id: 2,
      entity_type: 'leads',
      entity_id: 555,
      responsible_user_id: 42,
      request_id: 'd-1',
    });
    assert.equal('responsible_user_id' in taskBody({ text: 'x', typeId: 1, deadlineMinutes: 0, hours: null }, 1, null, 'd', new Date()), false);
    mock.timers.reset();
  });
});

describe('choice of the responsible user', () => {
  const user = (amoId: number, usable = true) => ({ amoId, usable });
  const rule = (patch: Partial<RuleExtras>): RuleExtras => ({ ruleId: 'r', mode: 'ROUND_ROBIN', performer: null, users: [], task: null, ...patch });

  test('round-robin: the counter’s turn among the usable users, deactivated ones skipped', () => {
    const r = rule({ users: [user(1), user(2, false), user(3), user(4)] });
    const c = usableCandidates(r);
    assert.deepEqual(c, [1, 3, 4]);
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((n) => chooseUser('ROUND_ROBIN', c, n)),
      [1, 3, 4, 1, 3, 4],
    );
  });

  test('uniform: the random index among the usable users', () => {
    const c = usableCandidates(rule({ mode: 'UNIFORM', users: [user(10), user(11, false), user(12)] }));
    const picks: number[] = [];
    assert.equal(
      chooseUser('UNIFORM', c, 0, (n) => (picks.push(n), 1)),
      12,
    );
    assert.deepEqual(picks, [2]);
    // real randomness stays within the candidates and reaches each
    const seen = new Set(Array.from({ length: 200 }, () => chooseUser('UNIFORM', c, 0)));
    assert.deepEqual([...seen].sort(), [10, 12]);
  });

  test('performer: only when usable; nobody left gives null and a warning saying why', () => {
    assert.deepEqual(usableCandidates(rule({ mode: 'PERFORMER', performer: user(7) })), [7]);
    assert.deepEqual(usableCandidates(rule({ mode: 'PERFORMER', performer: user(7, false) })), []);
    assert.equal(chooseUser('ROUND_ROBIN', [], 3), null);
    assert.match(noUserWarning(rule({ users: [user(1, false)] })) ?? '', /none of the rule's chosen users is active/);
    assert.match(noUserWarning(rule({ mode: 'PERFORMER', performer: user(7, false) })) ?? '', /performer is deactivated/);
    assert.equal(noUserWarning(rule({ mode: 'PERFORMER' })), null);
  });

  test("the task's responsible: the recorded user, else the lead's as sent (none: amoCRM's default), else the usable performer", () => {
    const r = rule({ mode: 'PERFORMER', performer: user(7) });
    assert.equal(taskResponsible({ d: delivery('a', { assignedUserAmoId: 3 } as never), result: {} as never }, r), 3);
    assert.equal(taskResponsible({ d: delivery('b', { sentLead: { name: 'x', responsible_user_id: 9 } }), result: {} as never }, r), 9);
    assert.equal(taskResponsible({ d: delivery('c', { sentLead: { name: 'x' } }), result: {} as never }, r), null);
    assert.equal(taskResponsible({ d: delivery('d'), result: {} as never }, r), 7);
    assert.equal(taskResponsible({ d: delivery('e'), result: {} as never }, rule({ mode: 'PERFORMER', performer: user(7, false) })), null);
  });
});
