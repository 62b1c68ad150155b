// One list of answer → field mappings: a question id (or contact property) and a field of the
// list's entity. Only fields an answer can fill are offered; the chosen field's type and options
// are shown. The server's complaint about a row is shown at its input.
import { useI18n } from '../../i18n/index.tsx';
import { CHOICE_TYPES, CONTACT_PROPERTIES, fillable } from '../../lib/fields.ts';
import type { CatalogueField } from './useCatalogue.ts';
import { newRow, rowPath, type MappingList as ListName, type MappingRow } from './rule-form.ts';
import { FieldError, invalidProps } from './FieldError.tsx';

export function MappingList({
  list,
  title,
  rows,
  fields,
  issues,
  onChange,
}: {
  list: ListName;
  title: string;
  rows: MappingRow[];
  fields: CatalogueField[];
  issues: Map<string, string>;
  onChange(rows: MappingRow[]): void;
}) {
  const { t, label } = useI18n();
  const offered = fields.filter((f) => fillable(f.type));
  const isProperty = list === 'contactProperties';
  const update = (i: number, patch: Partial<MappingRow>) => onChange(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  return (
    <fieldset className="mappings" data-testid={`mappings-${list}`}>
      <legend>{title}</legend>
      {rows.length === 0 && <p className="hint">{t('rule.noMappings')}</p>}
      {isProperty && (
        <datalist id="contact-properties">
          {CONTACT_PROPERTIES.map((p) => (
            <option key={p} value={p} />
          ))}
        </datalist>
      )}
      {rows.map((row, i) => {
        const sourceId = `${list}-${row.key}-source`;
        const fieldId = `${list}-${row.key}-field`;
        const sourcePath = rowPath(list, i, 'source');
        const fieldPath = rowPath(list, i, 'fieldId');
        const field = offered.find((f) => f.id === row.fieldId);
        return (
          <div className="mapping" key={row.key} data-testid="mapping-row">
            <div className="input">
              <label htmlFor={sourceId}>{isProperty ? t('rule.property') : t('rule.question')}</label>
              <input
                id={sourceId}
                value={row.source}
                list={isProperty ? 'contact-properties' : undefined}
                placeholder={isProperty ? 'phone' : 'q-area'}
                onChange={(e) => update(i, { source: e.target.value })}
                {...invalidProps(issues, sourcePath, sourceId)}
              />
              <FieldError issues={issues} path={sourcePath} id={sourceId} />
            </div>
            <span className="arrow" aria-hidden="true">
              →
            </span>
            <div className="input">
              <label htmlFor={fieldId}>{t('rule.field')}</label>
              <select id={fieldId} value={row.fieldId} onChange={(e) => update(i, { fieldId: e.target.value })} {...invalidProps(issues, fieldPath, fieldId)}>
                <option value="">{t('rule.chooseField')}</option>
                {offered.map((f) => (
                  <option key={f.id} value={f.id}>
                    {f.name} ({label('fieldType', f.type)})
                  </option>
                ))}
              </select>
              <FieldError issues={issues} path={fieldPath} id={fieldId} />
              {field && (
                <p className="hint" data-testid="field-type">
                  <span className="badge type">{label('fieldType', field.type)}</span>
                  {CHOICE_TYPES.has(field.type) && field.options.length > 0 && <> {t('rule.oneOf', { options: field.options.map((o) => o.value).join(', ') })}</>}
                  {field.type === 'CHECKBOX' && <> {t('rule.checkboxHint')}</>}
                  {['DATE', 'DATE_TIME', 'BIRTHDAY'].includes(field.type) && <> {t('rule.dateHint')}</>}
                  {['NUMERIC', 'PRICE', 'MONETARY'].includes(field.type) && <> {t('rule.numberHint')}</>}
                </p>
              )}
            </div>
            <button type="button" className="link danger" onClick={() => onChange(rows.filter((_, j) => j !== i))} aria-label={t('rule.removeRow', { n: i + 1 })}>
              {t('common.remove')}
            </button>
          </div>
        );
      })}
      <button type="button" onClick={() => onChange([...rows, newRow()])}>
        {t('rule.addRow')}
      </button>
    </fieldset>
  );
}
