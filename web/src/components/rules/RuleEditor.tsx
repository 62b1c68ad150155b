// One quiz's rule: where its leads go (pipeline → one of its steps, responsible user, Unsorted,
// duplicates), which answer fills which field, which tags are added. Saved as a whole; the
// server's BAD_USER_INPUT lands at the inputs its paths name, Rule.problems show as warnings.
// The preview shows the form as it stands, saved or not (previewQuizRule's draft).
import { useEffect, useState, type FormEvent } from 'react';
import { useApolloClient, useMutation, useQuery } from '@apollo/client/react';
import { CreateRuleMutation, RuleQuery, UpdateRuleMutation } from '../../ops/rules.ts';
import { errorText, inputIssues } from '../../lib/errors.ts';
import { useI18n } from '../../i18n/index.tsx';
import { useNotice } from '../notices.tsx';
import { emptyForm, formFromRule, inputFromForm, LIST_ENTITY, MAPPING_LISTS, TAG_ENTITIES, type RuleForm } from './rule-form.ts';
import { usePickerCatalogue } from './useCatalogue.ts';
import { MappingList } from './MappingList.tsx';
import { TagPicker } from './TagPicker.tsx';
import { UtmEditor } from './UtmEditor.tsx';
import { FieldError, invalidProps } from './FieldError.tsx';
import { RuleExtrasFields } from './RuleExtrasFields.tsx';
import { TaskAssignmentFields } from './TaskAssignmentFields.tsx';
import { RuleControls } from './RuleControls.tsx';
import { RulePreview } from './RulePreview.tsx';

const CHECK_POLL_MS = 1500;

export function RuleEditor({ quizId }: { quizId: string }) {
  const { t, when } = useI18n();
  const notice = useNotice();
  const client = useApolloClient();
  const { data, error, startPolling, stopPolling } = useQuery(RuleQuery, { variables: { quizId }, fetchPolicy: 'cache-and-network' });
  const rule = data?.rule ?? null;
  // A saved rule is checked against amoCRM by a worker (checkedAt is null until then): ask again until it was.
  const checking = !!rule && !rule.checkedAt;
  useEffect(() => {
    if (!checking) return;
    startPolling(CHECK_POLL_MS);
    return () => stopPolling();
  }, [checking, startPolling, stopPolling]);
  const [form, setForm] = useState<RuleForm | null>(null);
  const [saveError, setSaveError] = useState<unknown>(null);
  const catalogue = usePickerCatalogue(form?.pipelineId ?? '');
  const [create, creating] = useMutation(CreateRuleMutation);
  const [update, updating] = useMutation(UpdateRuleMutation);

  // The form starts from the first answer (the saved rule, or an empty one) and is the user's from
  // then on: set while rendering, so the first paint with data already shows it.
  if (data && !form) setForm(rule ? formFromRule(rule) : emptyForm());

  const issues = inputIssues(saveError);
  const invalid = issues.size > 0;
  // After each refused save, the first input the server named takes the focus.
  useEffect(() => {
    if (invalid) document.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
  }, [saveError, invalid]);

  if (error) return <p className="banner error">{errorText(error)}</p>;
  if (!form) return <p aria-busy="true">{t('common.loading')}</p>;

  const set = (patch: Partial<RuleForm>) => setForm({ ...form, ...patch });
  const save = async (event: FormEvent) => {
    event.preventDefault();
    setSaveError(null);
    const variables = { quizId, input: inputFromForm(form) };
    try {
      if (rule) await update({ variables });
      else {
        const { data: created } = await create({ variables });
        if (created) client.writeQuery({ query: RuleQuery, variables: { quizId }, data: { rule: created.createQuizRule } });
      }
      notice(t('rule.saved'), 'success');
    } catch (err) {
      setSaveError(err);
    }
  };
  const saving = creating.loading || updating.loading;

  return (
    <div className="stack">
      {rule && rule.problems.length > 0 && (
        <div className="banner warning" role="alert" data-testid="rule-problems">
          <p>{t('rule.problems', { when: when(rule.checkedAt) })}</p>
          <ul>
            {rule.problems.map((p) => (
              <li key={p}>{p}</li>
            ))}
          </ul>
        </div>
      )}
      <form className="stack" onSubmit={(e) => void save(e)} noValidate aria-labelledby="rule-title">
        <h2 id="rule-title">{rule ? t('rule.editTitle', { quizId }) : t('rule.newTitle', { quizId })}</h2>
        <fieldset className="grid2">
          <legend>{t('rule.where')}</legend>
          <div className="input">
            <label htmlFor="rule-pipeline">{t('rule.pipeline')}</label>
            <select
              id="rule-pipeline"
              value={form.pipelineId}
              onChange={(e) => set({ pipelineId: e.target.value, stepId: '' })}
              {...invalidProps(issues, 'input.pipelineId', 'rule-pipeline')}
            >
              <option value="">{t('rule.choosePipeline')}</option>
              {catalogue.pipelines.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.name}
                </option>
              ))}
            </select>
            <FieldError issues={issues} path="input.pipelineId" id="rule-pipeline" />
          </div>
          <div className="input">
            <label htmlFor="rule-step">{t('rule.step')}</label>
            <select
              id="rule-step"
              value={form.stepId}
              onChange={(e) => set({ stepId: e.target.value })}
              disabled={!form.pipelineId}
              {...invalidProps(issues, 'input.stepId', 'rule-step')}
            >
              <option value="">{t('rule.chooseStep')}</option>
              {catalogue.steps.map((s) => (
                <option key={s.id} value={s.id}>
                  {s.name}
                </option>
              ))}
            </select>
            <FieldError issues={issues} path="input.stepId" id="rule-step" />
          </div>
          <div className="input">
            <label htmlFor="rule-performer">{t('rule.performer')}</label>
            <select
              id="rule-performer"
              value={form.performerId}
              onChange={(e) => set({ performerId: e.target.value })}
              {...invalidProps(issues, 'input.performerId', 'rule-performer')}
            >
              <option value="">{t('rule.defaultPerformer')}</option>
              {catalogue.users
                .filter((u) => u.isActive || u.id === form.performerId)
                .map((u) => (
                  <option key={u.id} value={u.id}>
                    {u.name}
                  </option>
                ))}
            </select>
            <FieldError issues={issues} path="input.performerId" id="rule-performer" />
          </div>
          <div className="checks">
            <label>
              <input type="checkbox" checked={form.toUnsorted} onChange={(e) => set({ toUnsorted: e.target.checked })} /> {t('rule.toUnsorted')}
            </label>
            <p className="hint">{t('rule.toUnsortedHint')}</p>
            <label>
              <input type="checkbox" checked={form.mergeDuplicates} onChange={(e) => set({ mergeDuplicates: e.target.checked })} /> {t('rule.mergeDuplicates')}
            </label>
            <p className="hint">{t('rule.mergeDuplicatesHint')}</p>
          </div>
        </fieldset>
        <fieldset className="stack">
          <legend>{t('rule.answers')}</legend>
          {MAPPING_LISTS.map((list) => (
            <MappingList
              key={list}
              list={list}
              title={t(`rule.list.${list}`)}
              rows={form.lists[list]}
              fields={catalogue.fields[LIST_ENTITY[list]]}
              issues={issues}
              onChange={(rows) => set({ lists: { ...form.lists, [list]: rows } })}
            />
          ))}
        </fieldset>
        <fieldset className="stack">
          <legend>{t('rule.tags')}</legend>
          {TAG_ENTITIES.map((entity) => (
            <TagPicker
              key={entity}
              entity={entity}
              tags={catalogue.tags[entity]}
              selected={form.tags[entity]}
              issues={issues}
              onChange={(ids) => set({ tags: { ...form.tags, [entity]: ids } })}
            />
          ))}
        </fieldset>
        <RuleExtrasFields form={form} issues={issues} onChange={set} />
        <TaskAssignmentFields form={form.taskAssignment} users={catalogue.users} issues={issues} onChange={(p) => set({ taskAssignment: { ...form.taskAssignment, ...p } })} />
        {saveError != null && (
          <div className="banner error" role="alert" data-testid="save-error">
            <p>{issues.size ? t('rule.fixInputs') : errorText(saveError)}</p>
            {issues.size > 0 && (
              <ul>
                {[...issues].map(([path, message]) => (
                  <li key={path}>
                    <code>{path}</code>: {message}
                  </li>
                ))}
              </ul>
            )}
          </div>
        )}
        <div className="row">
          <button type="submit" className="primary" disabled={saving}>
            {saving ? t('common.saving') : t('rule.save')}
          </button>
          {rule && <span className="hint">{t('rule.updatedAt', { when: when(rule.updatedAt) })}</span>}
          {checking && (
            <span className="hint" aria-live="polite" data-testid="rule-checking">
              {t('rule.checking')}
            </span>
          )}
        </div>
      </form>
      {rule && <RuleControls quizId={quizId} rule={rule} />}
      <RulePreview quizId={quizId} draft={inputFromForm(form)} questionIds={form.lists.lead.map((r) => r.source)} />
      <UtmEditor quizId={quizId} leadFields={catalogue.fields.LEAD} />
    </div>
  );
}
