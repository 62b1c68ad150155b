// The rule's lead-name template, price question and tags by name (the server checks them on save;
// its BAD_USER_INPUT paths land here: input.leadNameTemplate, input.priceQuestionId,
// input.tagNamesToAdd.<entity>.<i>, i counting the names as typed, comma-separated).
import { useI18n } from '../../i18n/index.tsx';
import { FieldError, invalidProps } from './FieldError.tsx';
import { TAG_ENTITIES, type RuleForm, type TagEntity } from './rule-form.ts';

type Extras = Pick<RuleForm, 'leadNameTemplate' | 'priceQuestionId' | 'tagNames'>;

export function RuleExtrasFields({ form, issues, onChange }: { form: Extras; issues: Map<string, string>; onChange(patch: Partial<Extras>): void }) {
  const { t, label } = useI18n();
  const tagIssues = (entity: TagEntity) => [...issues].filter(([path]) => path === `input.tagNamesToAdd.${entity}` || path.startsWith(`input.tagNamesToAdd.${entity}.`));
  return (
    <fieldset className="grid2" data-testid="rule-extras">
      <legend>{t('rule.extras')}</legend>
      <div className="input">
        <label htmlFor="rule-name-template">{t('rule.leadNameTemplate')}</label>
        <input
          id="rule-name-template"
          value={form.leadNameTemplate}
          placeholder="Quiz {quizName}: {contactName}"
          onChange={(e) => onChange({ leadNameTemplate: e.target.value })}
          {...invalidProps(issues, 'input.leadNameTemplate', 'rule-name-template')}
        />
        <p className="hint">{t('rule.leadNameTemplateHint')}</p>
        <FieldError issues={issues} path="input.leadNameTemplate" id="rule-name-template" />
      </div>
      <div className="input">
        <label htmlFor="rule-price-question">{t('rule.priceQuestion')}</label>
        <input
          id="rule-price-question"
          value={form.priceQuestionId}
          onChange={(e) => onChange({ priceQuestionId: e.target.value })}
          {...invalidProps(issues, 'input.priceQuestionId', 'rule-price-question')}
        />
        <p className="hint">{t('rule.priceQuestionHint')}</p>
        <FieldError issues={issues} path="input.priceQuestionId" id="rule-price-question" />
      </div>
      {TAG_ENTITIES.map((entity) => {
        const id = `rule-tag-names-${entity}`;
        const errors = tagIssues(entity);
        return (
          <div className="input" key={entity}>
            <label htmlFor={id}>{t('rule.tagNamesFor', { entity: label('entity', entity.toUpperCase()) })}</label>
            <input
              id={id}
              value={form.tagNames[entity]}
              onChange={(e) => onChange({ tagNames: { ...form.tagNames, [entity]: e.target.value } })}
              data-issue-path={`input.tagNamesToAdd.${entity}`}
              {...(errors.length ? { 'aria-invalid': true as const, 'aria-describedby': `${id}-error` } : {})}
            />
            {errors.length > 0 && (
              <p className="field-error" id={`${id}-error`} data-testid="field-error">
                {errors.map(([, message]) => message).join('; ')}
              </p>
            )}
          </div>
        );
      })}
      <p className="hint">{t('rule.tagNamesHint')}</p>
    </fieldset>
  );
}
