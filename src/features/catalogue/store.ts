// Writes one kind of the amoCRM catalogue into the cache: a batched upsert
// (`INSERT … SELECT FROM jsonb_to_recordset … ON CONFLICT DO UPDATE`, 1,000 rows per
// statement) that also un-deletes rows that came back, then a soft delete of the account's rows
// of that kind that amoCRM no longer has. Each kind is written in one transaction.
//
// Unchanged rows are not rewritten (`WHERE … IS DISTINCT FROM …`), so `updated_at` moves only
// when amoCRM changed something. Rows are sorted by key, so two syncs of the same account
// writing at once lock rows in the same order and cannot deadlock.
import { Prisma, type Db } from '../../platform/db.ts';
import type { EntityType } from '../../generated/prisma/enums.ts';

type Sql = Pick<Db, '$executeRaw' | '$queryRaw'>;

const CHUNK = 1000;
const TX_TIMEOUT_MS = 120_000;

export interface UserRow {
  amoId: number;
  name: string;
  email: string | null;
  role: number | null;
  group: number | null;
  isAdmin: boolean;
  isActive: boolean;
}

export interface StepRow {
  amoId: number;
  name: string;
  color: string | null;
  sort: number;
  type: number;
  isEditable: boolean;
}

export interface PipelineRow {
  amoId: number;
  name: string;
  sort: number;
  isMain: boolean;
  isArchive: boolean;
  isUnsortedOn: boolean;
  steps: StepRow[];
}

export interface FieldOption {
  amoId: number;
  value: string;
  sort: number;
}

export interface FieldRow {
  entity: EntityType;
  amoId: number;
  name: string;
  code: string | null;
  rawType: string;
  sort: number;
  isApiOnly: boolean;
  options: FieldOption[];
}

export interface TagRow {
  entity: EntityType;
  amoId: number;
  name: string;
  color: string | null;
}

/** Last occurrence wins (a page boundary moving under a paginated read can repeat an item). */
function dedupe<T>(rows: T[], key: (row: T) => string | number): T[] {
  const map = new Map<string | number, T>();
  for (const row of rows) map.set(key(row), row);
  return [...map.values()];
}

function chunks<T>(rows: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += CHUNK) out.push(rows.slice(i, i + CHUNK));
  return out;
}

function transaction<T>(db: Db, fn: (tx: Sql) => Promise<T>): Promise<T> {
  return db.$transaction((tx) => fn(tx), { timeout: TX_TIMEOUT_MS, maxWait: 30_000 });
}

/** Upserts the account's users; soft-deletes the others. Returns how many amoCRM has. */
export async function writeUsers(db: Db, accountId: string, input: UserRow[]): Promise<number> {
  const rows = dedupe(input, (r) => r.amoId).sort((a, b) => a.amoId - b.amoId);
  await transaction(db, async (tx) => {
    for (const chunk of chunks(rows)) {
      const json = JSON.stringify(chunk.map((r) => ({ amo_id: r.amoId, name: r.name, email: r.email, role: r.role, grp: r.group, is_admin: r.isAdmin, is_active: r.isActive })));
      await tx.$executeRaw`
        INSERT INTO amo_user AS t (account_id, amo_id, name, email, role, "group", is_admin, is_active, deleted_at, updated_at)
        SELECT ${accountId}::uuid, x.amo_id, x.name, x.email, x.role, x.grp, x.is_admin, x.is_active, NULL, now()
        FROM jsonb_to_recordset(${json}::jsonb) AS x(amo_id bigint, name text, email text, role bigint, grp bigint, is_admin boolean, is_active boolean)
        ON CONFLICT (account_id, amo_id) DO UPDATE
          SET name = EXCLUDED.name, email = EXCLUDED.email, role = EXCLUDED.role, "group" = EXCLUDED."group",
              is_admin = EXCLUDED.is_admin, is_active = EXCLUDED.is_active, deleted_at = NULL, updated_at = now()
          WHERE (t.name, t.email, t.role, t."group", t.is_admin, t.is_active, t.deleted_at)
                IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.email, EXCLUDED.role, EXCLUDED."group", EXCLUDED.is_admin, EXCLUDED.is_active, NULL::timestamptz)`;
    }
    const ids = rows.map((r) => r.amoId);
    await tx.$executeRaw`
      UPDATE amo_user AS t SET deleted_at = now(), updated_at = now()
      WHERE t.account_id = ${accountId}::uuid AND t.deleted_at IS NULL
        AND NOT EXISTS (SELECT 1 FROM unnest(${ids}::bigint[]) AS k(id) WHERE k.id = t.amo_id)`;
  });
  return rows.length;
}

/**
 * Upserts the account's pipelines and their steps (statuses); soft-deletes pipelines and steps
 * amoCRM no longer has (the steps of a removed pipeline too). Returns [pipelines, steps].
 */
export async function writePipelines(db: Db, accountId: string, input: PipelineRow[]): Promise<{ pipelines: number; steps: number }> {
  const pipelines = dedupe(input, (p) => p.amoId).sort((a, b) => a.amoId - b.amoId);
  let stepCount = 0;
  await transaction(db, async (tx) => {
    const idByAmoId = new Map<number, string>();
    for (const chunk of chunks(pipelines)) {
      const json = JSON.stringify(chunk.map((p) => ({ amo_id: p.amoId, name: p.name, sort: p.sort, is_main: p.isMain, is_archive: p.isArchive, is_unsorted_on: p.isUnsortedOn })));
      // DO UPDATE always (no WHERE), so RETURNING gives every row's id
      const returned = await tx.$queryRaw<Array<{ id: string; amo_id: number }>>`
        INSERT INTO pipeline AS t (account_id, amo_id, name, sort, is_main, is_archive, is_unsorted_on, deleted_at, updated_at)
        SELECT ${accountId}::uuid, x.amo_id, x.name, x.sort, x.is_main, x.is_archive, x.is_unsorted_on, NULL, now()
        FROM jsonb_to_recordset(${json}::jsonb) AS x(amo_id bigint, name text, sort int, is_main boolean, is_archive boolean, is_unsorted_on boolean)
        ON CONFLICT (account_id, amo_id) DO UPDATE
          SET name = EXCLUDED.name, sort = EXCLUDED.sort, is_main = EXCLUDED.is_main, is_archive = EXCLUDED.is_archive,
              is_unsorted_on = EXCLUDED.is_unsorted_on, deleted_at = NULL,
              updated_at = CASE WHEN (t.name, t.sort, t.is_main, t.is_archive, t.is_unsorted_on, t.deleted_at)
                                  IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.sort, EXCLUDED.is_main, EXCLUDED.is_archive, EXCLUDED.is_unsorted_on, NULL::timestamptz)
                                THEN now() ELSE t.updated_at END
        RETURNING t.id::text AS id, t.amo_id AS amo_id`;
      for (const r of returned) idByAmoId.set(Number(r.amo_id), r.id);
    }

    const steps: Array<{ pipeline_id: string; amo_id: number; name: string; color: string | null; sort: number; type: number; is_editable: boolean }> = [];
    for (const p of pipelines) {
      const pipelineId = idByAmoId.get(p.amoId);
      if (!pipelineId) throw new Error(`pipeline ${p.amoId} was not written`);
      for (const s of dedupe(p.steps, (s) => s.amoId)) {
        steps.push({ pipeline_id: pipelineId, amo_id: s.amoId, name: s.name, color: s.color, sort: s.sort, type: s.type, is_editable: s.isEditable });
      }
    }
    steps.sort((a, b) => (a.pipeline_id < b.pipeline_id ? -1 : a.pipeline_id > b.pipeline_id ? 1 : a.amo_id - b.amo_id));
    stepCount = steps.length;
    for (const chunk of chunks(steps)) {
      await tx.$executeRaw`
        INSERT INTO step AS t (account_id, pipeline_id, amo_id, name, color, sort, type, is_editable, deleted_at, updated_at)
        SELECT ${accountId}::uuid, x.pipeline_id, x.amo_id, x.name, x.color, x.sort, x.type, x.is_editable, NULL, now()
        FROM jsonb_to_recordset(${JSON.stringify(chunk)}::jsonb) AS x(pipeline_id uuid, amo_id bigint, name text, color text, sort int, type int, is_editable boolean)
        ON CONFLICT (pipeline_id, amo_id) DO UPDATE
          SET name = EXCLUDED.name, color = EXCLUDED.color, sort = EXCLUDED.sort, type = EXCLUDED.type,
              is_editable = EXCLUDED.is_editable, deleted_at = NULL, updated_at = now()
          WHERE (t.name, t.color, t.sort, t.type, t.is_editable, t.deleted_at)
                IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.color, EXCLUDED.sort, EXCLUDED.type, EXCLUDED.is_editable, NULL::timestamptz)`;
    }

    const pipelineIds = pipelines.map((p) => p.amoId);
    await tx.$executeRaw`
      UPDATE pipeline AS t SET deleted_at = now(), updated_at = now()
      WHERE t.account_id = ${accountId}::uuid AND t.deleted_at IS NULL
        AND NOT EXISTS (SELECT 1 FROM unnest(${pipelineIds}::bigint[]) AS k(id) WHERE k.id = t.amo_id)`;
    const stepPipelines = steps.map((s) => s.pipeline_id);
    const stepIds = steps.map((s) => s.amo_id);
    await tx.$executeRaw`
      UPDATE step AS t SET deleted_at = now(), updated_at = now()
      WHERE t.account_id = ${accountId}::uuid AND t.deleted_at IS NULL
        AND NOT EXISTS (
          SELECT 1 FROM unnest(${stepPipelines}::uuid[], ${stepIds}::bigint[]) AS k(pipeline_id, id)
          WHERE k.pipeline_id = t.pipeline_id AND k.id = t.amo_id)`;
  });
  return { pipelines: pipelines.length, steps: stepCount };
}

/**
 * Upserts the custom fields (with their options) of the given entities; soft-deletes the
 * account's fields of those entities that amoCRM no longer has. Returns how many amoCRM has.
 */
export async function writeFields(db: Db, accountId: string, entities: EntityType[], input: FieldRow[]): Promise<number> {
  const rows = dedupe(input, (r) => `${r.entity}:${r.amoId}`).sort((a, b) => (a.entity < b.entity ? -1 : a.entity > b.entity ? 1 : a.amoId - b.amoId));
  await transaction(db, async (tx) => {
    for (const chunk of chunks(rows)) {
      const json = JSON.stringify(
        chunk.map((r) => ({
          entity: r.entity,
          amo_id: r.amoId,
          name: r.name,
          code: r.code,
          raw_type: r.rawType,
          sort: r.sort,
          is_api_only: r.isApiOnly,
          options: r.options,
        })),
      );
      await tx.$executeRaw`
        INSERT INTO custom_field AS t (account_id, entity, amo_id, name, code, raw_type, sort, is_api_only, options, deleted_at, updated_at)
        SELECT ${accountId}::uuid, x.entity::"EntityType", x.amo_id, x.name, x.code, x.raw_type, x.sort, x.is_api_only, x.options, NULL, now()
        FROM jsonb_to_recordset(${json}::jsonb)
          AS x(entity text, amo_id bigint, name text, code text, raw_type text, sort int, is_api_only boolean, options jsonb)
        ON CONFLICT (account_id, entity, amo_id) DO UPDATE
          SET name = EXCLUDED.name, code = EXCLUDED.code, raw_type = EXCLUDED.raw_type, sort = EXCLUDED.sort,
              is_api_only = EXCLUDED.is_api_only, options = EXCLUDED.options, deleted_at = NULL, updated_at = now()
          WHERE (t.name, t.code, t.raw_type, t.sort, t.is_api_only, t.options, t.deleted_at)
                IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.code, EXCLUDED.raw_type, EXCLUDED.sort, EXCLUDED.is_api_only, EXCLUDED.options, NULL::timestamptz)`;
    }
    await softDeleteVanished(tx, 'custom_field', accountId, entities, rows);
  });
  return rows.length;
}

/** Soft-deletes the account's rows of `entities` (in a per-entity table) that amoCRM no longer has. */
async function softDeleteVanished(tx: Sql, table: 'custom_field' | 'tag', accountId: string, entities: EntityType[], kept: { entity: EntityType; amoId: number }[]): Promise<void> {
  const keyEntities = kept.map((r) => r.entity as string);
  const keyIds = kept.map((r) => r.amoId);
  const scope = entities.map((e) => e as string);
  await tx.$executeRaw`
    UPDATE ${Prisma.raw(table)} AS t SET deleted_at = now(), updated_at = now()
    WHERE t.account_id = ${accountId}::uuid AND t.deleted_at IS NULL
      AND t.entity::text = ANY(${scope}::text[])
      AND NOT EXISTS (
        SELECT 1 FROM unnest(${keyEntities}::text[], ${keyIds}::bigint[]) AS k(entity, id)
        WHERE k.entity = t.entity::text AND k.id = t.amo_id)`;
}

/** Upserts the tags of the given entities; soft-deletes the account's others of those entities. */
export async function writeTags(db: Db, accountId: string, entities: EntityType[], input: TagRow[]): Promise<number> {
  const rows = dedupe(input, (r) => `${r.entity}:${r.amoId}`).sort((a, b) => (a.entity < b.entity ? -1 : a.entity > b.entity ? 1 : a.amoId - b.amoId));
  await transaction(db, async (tx) => {
    for (const chunk of chunks(rows)) {
      const json = JSON.stringify(chunk.map((r) => ({ entity: r.entity, amo_id: r.amoId, name: r.name, color: r.color })));
      await tx.$executeRaw`
        INSERT INTO tag AS t (account_id, entity, amo_id, name, color, deleted_at, updated_at)
        SELECT ${accountId}::uuid, x.entity::"EntityType", x.amo_id, x.name, x.color, NULL, now()
        FROM jsonb_to_recordset(${json}::jsonb) AS x(entity text, amo_id bigint, name text, color text)
        ON CONFLICT (account_id, entity, amo_id) DO UPDATE
          SET name = EXCLUDED.name, color = EXCLUDED.color, deleted_at = NULL, updated_at = now()
          WHERE (t.name, t.color, t.deleted_at) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.color, NULL::timestamptz)`;
    }
    await softDeleteVanished(tx, 'tag', accountId, entities, rows);
  });
  return rows.length;
}
