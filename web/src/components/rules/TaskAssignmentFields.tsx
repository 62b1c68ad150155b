// The rule's task for the responsible user and how that user is chosen (the server checks them on
// save; its BAD_USER_INPUT paths land here: input.task.*, input.assignment.userIds.<i>).
// Only active amoCRM users are offered.
import { useI18n } from '../../i18n/index.tsx';
import { FieldError, invalidProps } from './FieldError.tsx';
import type { TaskForm } from './task-form.ts';

const MODES = ['PERFORMER', 'ROUND_ROBIN', 'UNIFORM'] as const;
const DAYS = [1, 2, 3, 4, 5, 6, 7] as const;

export function TaskAssignmentFields({
  form,
  users,
  issues,
  onChange,
}: {
  form: TaskForm;
  users: readonly { id: string; name: string; isActive: boolean }[];
  issues: Map<string, string>;
  onChange(patch: Partial<TaskForm>): void;
}) {
  const { t } = useI18n();
  const active = users.filter((u) => u.isActive);
  const toggle = <T,>(list: T[], v: T) => (list.includes(v) ? list.filter((x) => x !== v) : [...list, v]);
  return (
    <fieldset className="grid2" data-testid="rule-task">
      <legend>{t('rule.task')}</legend>
      <div className="checks">
        <label>
          <input type="checkbox" checked={form.enabled} onChange={(e) => onChange({ enabled: e.target.checked })} /> {t('rule.taskEnabled')}
        </label>
      </div>
      <div className="input">
        <label htmlFor="rule-task-text">{t('rule.taskText')}</label>
        <input id="rule-task-text" value={form.text} onChange={(e) => onChange({ text: e.target.value })} {...invalidProps(issues, 'input.task.text', 'rule-task-text')} />
        <FieldError issues={issues} path="input.task.text" id="rule-task-text" />
      </div>
      <div className="input">
        <label htmlFor="rule-task-type">{t('rule.taskType')}</label>
        <input
          id="rule-task-type"
          list="rule-task-types"
          inputMode="numeric"
          value={form.taskTypeId}
          onChange={(e) => onChange({ taskTypeId: e.target.value })}
          {...invalidProps(issues, 'input.task.taskTypeId', 'rule-task-type')}
        />
        <datalist id="rule-task-types">
          <option value="1">{t('rule.taskTypeCall')}</option>
          <option value="2">{t('rule.taskTypeMeeting')}</option>
        </datalist>
        <FieldError issues={issues} path="input.task.taskTypeId" id="rule-task-type" />
      </div>
      <div className="input">
        <label htmlFor="rule-task-deadline">{t('rule.taskDeadline')}</label>
        <input
          id="rule-task-deadline"
          type="number"
          min={0}
          value={form.deadlineMinutes}
          onChange={(e) => onChange({ deadlineMinutes: e.target.value })}
          {...invalidProps(issues, 'input.task.deadlineMinutes', 'rule-task-deadline')}
        />
        <FieldError issues={issues} path="input.task.deadlineMinutes" id="rule-task-deadline" />
      </div>
      <div className="checks">
        <label>
          <input type="checkbox" checked={form.hoursOn} onChange={(e) => onChange({ hoursOn: e.target.checked })} /> {t('rule.taskHours')}
        </label>
      </div>
      {form.hoursOn && (
        <>
          <div className="checks" data-issue-path="input.task.workingHours.days">
            {DAYS.map((d) => (
              <label key={d}>
                <input type="checkbox" checked={form.days.includes(d)} onChange={() => onChange({ days: toggle(form.days, d).sort((a, b) => a - b) })} /> {t(`rule.day${d}`)}
              </label>
            ))}
            <FieldError issues={issues} path="input.task.workingHours.days" id="rule-task-days" />
          </div>
          <div className="input">
            <label htmlFor="rule-task-from">{t('rule.taskFrom')}</label>
            <input
              id="rule-task-from"
              type="time"
              value={form.from}
              onChange={(e) => onChange({ from: e.target.value })}
              {...invalidProps(issues, 'input.task.workingHours.from', 'rule-task-from')}
            />
            <FieldError issues={issues} path="input.task.workingHours.from" id="rule-task-from" />
          </div>
          <div className="input">
            <label htmlFor="rule-task-to">{t('rule.taskTo')}</label>
            <input
              id="rule-task-to"
              type="time"
              value={form.to}
              onChange={(e) => onChange({ to: e.target.value })}
              {...invalidProps(issues, 'input.task.workingHours.to', 'rule-task-to')}
            />
            <FieldError issues={issues} path="input.task.workingHours.to" id="rule-task-to" />
          </div>
          <div className="input">
            <label htmlFor="rule-task-tz">{t('rule.taskTimezone')}</label>
            <input
              id="rule-task-tz"
              value={form.timezone}
              placeholder="Europe/Moscow"
              onChange={(e) => onChange({ timezone: e.target.value })}
              {...invalidProps(issues, 'input.task.workingHours.timezone', 'rule-task-tz')}
            />
            <FieldError issues={issues} path="input.task.workingHours.timezone" id="rule-task-tz" />
          </div>
        </>
      )}
      <div className="input">
        <label htmlFor="rule-assignment">{t('rule.assignment')}</label>
        <select id="rule-assignment" value={form.mode} onChange={(e) => onChange({ mode: e.target.value as TaskForm['mode'] })}>
          {MODES.map((m) => (
            <option key={m} value={m}>
              {t(`rule.assignment${m}`)}
            </option>
          ))}
        </select>
      </div>
      {form.mode !== 'PERFORMER' && (
        <div className="checks" data-issue-path="input.assignment.userIds">
          {active.map((u) => (
            <label key={u.id}>
              <input type="checkbox" checked={form.userIds.includes(u.id)} onChange={() => onChange({ userIds: toggle(form.userIds, u.id) })} /> {u.name}
            </label>
          ))}
          {[...issues]
            .filter(([p]) => p === 'input.assignment.userIds' || p.startsWith('input.assignment.userIds.'))
            .map(([p, m]) => (
              <p className="field-error" key={p} data-testid="field-error">
                {m}
              </p>
            ))}
        </div>
      )}
    </fieldset>
  );
}
