import { useState } from 'react';
import { useI18n } from '../../i18n/index.tsx';
import { matches } from '../catalogue/Paged.tsx';
import type { PickerCatalogue } from './useCatalogue.ts';
import type { TagEntity } from './rule-form.ts';

/** Tags added to one entity: checkboxes over the account's tags of that entity, searchable. */
export function TagPicker({
  entity,
  tags,
  selected,
  issues,
  onChange,
}: {
  entity: TagEntity;
  tags: PickerCatalogue['tags'][TagEntity];
  selected: string[];
  issues: Map<string, string>;
  onChange(ids: string[]): void;
}) {
  const { t, label } = useI18n();
  const [q, setQ] = useState('');
  const shown = tags.filter((tag) => selected.includes(tag.id) || matches(q, tag.name));
  const errors = selected.map((id, i) => [id, issues.get(`input.tagsToAdd.${entity}.${i}`)] as const).filter(([, m]) => m);
  return (
    <fieldset className="tags" data-testid={`tags-${entity}`}>
      <legend>{t('rule.tagsFor', { entity: label('entity', entity.toUpperCase()) })}</legend>
      {tags.length > 8 && <input type="search" aria-label={t('catalogue.search')} placeholder={t('catalogue.search')} value={q} onChange={(e) => setQ(e.target.value)} />}
      {tags.length === 0 && <p className="hint">{t('rule.noTags')}</p>}
      <div className="chips">
        {shown.map((tag) => {
          const id = `tag-${entity}-${tag.id}`;
          return (
            <label key={tag.id} htmlFor={id} className="chip">
              <input
                id={id}
                type="checkbox"
                checked={selected.includes(tag.id)}
                onChange={(e) => onChange(e.target.checked ? [...selected, tag.id] : selected.filter((x) => x !== tag.id))}
              />
              {tag.name}
            </label>
          );
        })}
      </div>
      {errors.map(([id, message]) => (
        <p key={id} className="field-error" data-testid="field-error">
          {tags.find((tag) => tag.id === id)?.name ?? id}: {message}
        </p>
      ))}
    </fieldset>
  );
}
