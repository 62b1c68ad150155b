// The synced amoCRM catalogue: pipelines with their steps, users, fields by entity (type and
// options), tags by entity. Paged; a search reads every page first, then filters.
import { useState } from 'react';
import type { EntityType } from '../../gql/graphql.ts';
import { FieldsQuery, PipelinesQuery, TagsQuery, UsersQuery } from '../../ops/catalogue.ts';
import { useConnection } from '../../lib/connection.ts';
import { ENTITIES } from '../../lib/fields.ts';
import { useI18n } from '../../i18n/index.tsx';
import { matches, PagedFoot, SearchBox, Section } from './Paged.tsx';

export function CatalogueScreen({ connected }: { connected: boolean }) {
  const { t } = useI18n();
  if (!connected) return <p className="banner info">{t('catalogue.notConnected')}</p>;
  return (
    <div className="grid">
      <Pipelines />
      <Fields />
      <Users />
      <Tags />
    </div>
  );
}

function Pipelines() {
  const { t } = useI18n();
  const [q, setQ] = useState('');
  const list = useConnection(PipelinesQuery, { includeArchived: true }, (d) => d.pipelines, { pageSize: 10, all: !!q });
  const shown = list.nodes.filter((p) => matches(q, p.name, ...p.steps.edges.map((e) => e.node.name)));
  return (
    <Section id="cat-pipelines" title={t('catalogue.pipelines')}>
      <SearchBox id="search-pipelines" label={t('catalogue.search')} value={q} onChange={setQ} />
      <ul className="list" data-testid="pipelines">
        {shown.map((p) => (
          <li key={p.id}>
            <strong>{p.name}</strong> {p.isMain && <span className="badge">{t('catalogue.main')}</span>}{' '}
            {p.isArchive && <span className="badge muted">{t('catalogue.archived')}</span>}
            <ol className="steps">
              {p.steps.edges.map(({ node: s }) => (
                <li key={s.id} style={{ borderColor: s.color ?? undefined }}>
                  {s.name}
                </li>
              ))}
              {p.steps.totalCount > p.steps.edges.length && <li className="muted">{t('catalogue.moreSteps', { n: p.steps.totalCount - p.steps.edges.length })}</li>}
            </ol>
          </li>
        ))}
      </ul>
      <PagedFoot shown={list.nodes.length} total={list.totalCount} hasMore={list.hasMore} loading={list.loading} onMore={() => void list.loadMore()} />
    </Section>
  );
}

function EntityPicker({ id, value, onChange }: { id: string; value: EntityType; onChange(e: EntityType): void }) {
  const { t, label } = useI18n();
  return (
    <div className="search">
      <label htmlFor={id}>{t('catalogue.entity')}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value as EntityType)}>
        {ENTITIES.map((e) => (
          <option key={e} value={e}>
            {label('entity', e)}
          </option>
        ))}
      </select>
    </div>
  );
}

function Fields() {
  const { t, label } = useI18n();
  const [entity, setEntity] = useState<EntityType>('LEAD');
  const [q, setQ] = useState('');
  const list = useConnection(FieldsQuery, { entity }, (d) => d.fields, { pageSize: 25, all: !!q });
  const shown = list.nodes.filter((f) => matches(q, f.name, f.code, f.type, f.rawType));
  return (
    <Section id="cat-fields" title={t('catalogue.fields')}>
      <div className="row">
        <EntityPicker id="fields-entity" value={entity} onChange={setEntity} />
        <SearchBox id="search-fields" label={t('catalogue.search')} value={q} onChange={setQ} />
      </div>
      <ul className="list" data-testid="fields">
        {shown.map((f) => (
          <li key={f.id}>
            <strong>{f.name}</strong> <span className="badge type">{label('fieldType', f.type)}</span> {f.code && <code>{f.code}</code>}
            {f.options.length > 0 && <p className="hint">{f.options.map((o) => o.value).join(' · ')}</p>}
          </li>
        ))}
      </ul>
      <PagedFoot shown={list.nodes.length} total={list.totalCount} hasMore={list.hasMore} loading={list.loading} onMore={() => void list.loadMore()} />
    </Section>
  );
}

function Users() {
  const { t } = useI18n();
  const [q, setQ] = useState('');
  const list = useConnection(UsersQuery, {}, (d) => d.users, { pageSize: 25, all: !!q });
  const shown = list.nodes.filter((u) => matches(q, u.name, u.email));
  return (
    <Section id="cat-users" title={t('catalogue.users')}>
      <SearchBox id="search-users" label={t('catalogue.search')} value={q} onChange={setQ} />
      <ul className="list" data-testid="users">
        {shown.map((u) => (
          <li key={u.id}>
            <strong>{u.name}</strong> {u.email && <span className="hint">{u.email}</span>}
          </li>
        ))}
      </ul>
      <PagedFoot shown={list.nodes.length} total={list.totalCount} hasMore={list.hasMore} loading={list.loading} onMore={() => void list.loadMore()} />
    </Section>
  );
}

function Tags() {
  const { t } = useI18n();
  const [entity, setEntity] = useState<EntityType>('LEAD');
  const [q, setQ] = useState('');
  const list = useConnection(TagsQuery, { entity }, (d) => d.tags, { pageSize: 50, all: !!q });
  const shown = list.nodes.filter((tag) => matches(q, tag.name));
  return (
    <Section id="cat-tags" title={t('catalogue.tags')}>
      <div className="row">
        <EntityPicker id="tags-entity" value={entity} onChange={setEntity} />
        <SearchBox id="search-tags" label={t('catalogue.search')} value={q} onChange={setQ} />
      </div>
      <ul className="chips" data-testid="tags">
        {shown.map((tag) => (
          <li key={tag.id} style={{ borderColor: tag.color ? `#${tag.color.replace(/^#/, '')}` : undefined }}>
            {tag.name}
          </li>
        ))}
      </ul>
      <PagedFoot shown={list.nodes.length} total={list.totalCount} hasMore={list.hasMore} loading={list.loading} onMore={() => void list.loadMore()} />
    </Section>
  );
}
