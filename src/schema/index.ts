// The whole GraphQL schema: every type module registers itself on the builder.
import { builder } from '../platform/graphql/builder.ts';
import '../platform/graphql/scalars.ts';
import '../platform/graphql/enums.ts';
import '../features/accounts/graphql.ts';
import '../features/catalogue/graphql/index.ts';
import '../features/rules/graphql/index.ts';
import '../features/delivery/graphql/index.ts';
import '../features/alerts/graphql.ts';

builder.queryType({ authScopes: { tenant: true } });
builder.mutationType({ authScopes: { tenant: true } });
builder.subscriptionType({ authScopes: { tenant: true } });

export const schema = builder.toSchema({ sortSchema: true });
