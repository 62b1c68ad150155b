import { builder } from '../../../platform/graphql/builder.ts';
import { int32 } from '../../../platform/graphql/scalars.ts';
import { EntityTypeEnum, FieldTypeEnum, fieldTypeOf } from '../../../platform/graphql/enums.ts';
import { liveCatalogue, liveNodeOptions } from '../../../platform/graphql/tenancy.ts';

export interface FieldOptionShape {
  amoId: number;
  value: string;
  sort?: number | null;
}

const FieldOption = builder.objectRef<FieldOptionShape>('FieldOption').implement({
  fields: (t) => ({
    amoId: t.int({ description: 'amoCRM enum id', resolve: (o) => int32(o.amoId, 'amoId') }),
    fullAmoId: t.field({ type: 'BigInt', description: 'amoCRM enum id, however large', resolve: (o) => o.amoId }),
    value: t.exposeString('value'),
    sort: t.exposeInt('sort', { nullable: true }),
  }),
});

export const FieldRef = builder.prismaNode('CustomField', {
  name: 'Field',
  ...liveNodeOptions,
  fields: (t) => ({
    amoId: t.int({ resolve: (f) => int32(f.amoId, 'amoId') }),
    fullAmoId: t.expose('amoId', { type: 'BigInt' }),
    code: t.exposeString('code', { nullable: true }),
    name: t.exposeString('name'),
    entity: t.expose('entity', { type: EntityTypeEnum }),
    type: t.field({ type: FieldTypeEnum, resolve: (field) => fieldTypeOf(field.rawType) }),
    rawType: t.exposeString('rawType'),
    options: t.field({
      type: [FieldOption],
      resolve: (field) => (Array.isArray(field.options) ? (field.options as unknown as FieldOptionShape[]) : []),
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

builder.queryField('fields', (t) =>
  t.prismaConnection(
    {
      type: 'CustomField',
      cursor: 'id',
      description: 'Custom fields; entity narrows to one entity type.',
      args: { entity: t.arg({ type: EntityTypeEnum }) },
      totalCount: async (_parent, args, ctx) =>
        ctx.db.customField.count({
          where: await liveCatalogue(ctx, args.entity ? { entity: args.entity } : {}),
        }),
      resolve: async (query, _root, args, ctx) =>
        ctx.db.customField.findMany({
          ...query,
          where: await liveCatalogue(ctx, args.entity ? { entity: args.entity } : {}),
          orderBy: [{ entity: 'asc' }, { sort: 'asc' }, { id: 'asc' }],
        }),
    },
    { name: 'FieldConnection' },
    { name: 'FieldEdge' },
  ),
);
