// Everything the rule editor's pickers offer, every page read.
import type { EntityType } from '../../gql/graphql.ts';
import { FieldsQuery, PipelinesQuery, StepsQuery, TagsQuery, UsersQuery } from '../../ops/catalogue.ts';
import { useConnection } from '../../lib/connection.ts';

export function usePickerCatalogue(pipelineId: string) {
  const pipelines = useConnection(PipelinesQuery, { includeArchived: false }, (d) => d.pipelines, { pageSize: 20, all: true });
  const steps = useConnection(StepsQuery, { pipelineId }, (d) => d.steps, { pageSize: 100, all: true, skip: !pipelineId });
  const users = useConnection(UsersQuery, {}, (d) => d.users, { pageSize: 100, all: true });
  const fields = {
    LEAD: useFields('LEAD'),
    CONTACT: useFields('CONTACT'),
    COMPANY: useFields('COMPANY'),
    CUSTOMER: useFields('CUSTOMER'),
  };
  const tags = {
    lead: useTags('LEAD'),
    contact: useTags('CONTACT'),
    company: useTags('COMPANY'),
    customer: useTags('CUSTOMER'),
  };
  const loading = pipelines.loading || users.loading;
  return { pipelines: pipelines.nodes, steps: pipelineId ? steps.nodes : [], users: users.nodes, fields, tags, loading };
}

const useFields = (entity: EntityType) => useConnection(FieldsQuery, { entity }, (d) => d.fields, { pageSize: 100, all: true }).nodes;
const useTags = (entity: EntityType) => useConnection(TagsQuery, { entity }, (d) => d.tags, { pageSize: 100, all: true }).nodes;

export type PickerCatalogue = ReturnType<typeof usePickerCatalogue>;
export type CatalogueField = PickerCatalogue['fields']['LEAD'][number];
