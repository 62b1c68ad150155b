// A quiz's UTM parameters and the lead fields they fill (saved at once, apart from the rule).
import { useState, type FormEvent } from 'react';
import { useMutation } from '@apollo/client/react';
import { AddUtmsMutation, DeleteUtmsMutation, UtmsQuery } from '../../ops/rules.ts';
import { useConnection } from '../../lib/connection.ts';
import { errorText, inputIssues } from '../../lib/errors.ts';
import { fillable } from '../../lib/fields.ts';
import { useI18n } from '../../i18n/index.tsx';
import type { CatalogueField } from './useCatalogue.ts';
import { FieldError, invalidProps } from './FieldError.tsx';

export function UtmEditor({ quizId, leadFields }: { quizId: string; leadFields: CatalogueField[] }) {
  const { t, label } = useI18n();
  const utms = useConnection(UtmsQuery, { quizId }, (d) => d.utms, { pageSize: 100, all: true, fetchPolicy: 'cache-and-network' });
  const [name, setName] = useState('');
  const [fieldId, setFieldId] = useState('');
  const [add, adding] = useMutation(AddUtmsMutation, { refetchQueries: [UtmsQuery] });
  const [remove] = useMutation(DeleteUtmsMutation, { refetchQueries: [UtmsQuery] });
  const issues = inputIssues(adding.error);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    void add({ variables: { quizId, utms: [{ name, fieldId }] } })
      .then(() => {
        setName('');
        setFieldId('');
      })
      .catch(() => {});
  };
  const offered = leadFields.filter((f) => fillable(f.type));
  return (
    <fieldset className="stack" data-testid="utms">
      <legend>{t('rule.utms')}</legend>
      <p className="hint">{t('rule.utmsHint')}</p>
      <ul className="list">
        {utms.nodes.map((u) => (
          <li key={u.id} className="row between">
            <span>
              <code>{u.name}</code> → {u.field.name} <span className="badge type">{label('fieldType', u.field.type)}</span>
            </span>
            <button
              type="button"
              className="link danger"
              onClick={() => void remove({ variables: { ids: [u.id] } }).catch(() => {})}
              aria-label={t('rule.removeUtm', { name: u.name })}
            >
              {t('common.remove')}
            </button>
          </li>
        ))}
      </ul>
      <form className="mapping" onSubmit={submit}>
        <div className="input">
          <label htmlFor="utm-name">{t('rule.utmName')}</label>
          <input id="utm-name" value={name} placeholder="utm_source" onChange={(e) => setName(e.target.value)} {...invalidProps(issues, 'utms.0.name', 'utm-name')} />
          <FieldError issues={issues} path="utms.0.name" id="utm-name" />
        </div>
        <span className="arrow" aria-hidden="true">
          →
        </span>
        <div className="input">
          <label htmlFor="utm-field">{t('rule.field')}</label>
          <select id="utm-field" value={fieldId} onChange={(e) => setFieldId(e.target.value)} {...invalidProps(issues, 'utms.0.fieldId', 'utm-field')}>
            <option value="">{t('rule.chooseField')}</option>
            {offered.map((f) => (
              <option key={f.id} value={f.id}>
                {f.name} ({label('fieldType', f.type)})
              </option>
            ))}
          </select>
          <FieldError issues={issues} path="utms.0.fieldId" id="utm-field" />
        </div>
        <button type="submit" disabled={adding.loading || !name.trim() || !fieldId}>
          {t('rule.addUtm')}
        </button>
      </form>
      {adding.error && issues.size === 0 && (
        <p className="banner error" role="alert">
          {errorText(adding.error)}
        </p>
      )}
    </fieldset>
  );
}
