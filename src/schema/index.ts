// The whole GraphQL schema: every type module registers itself on the builder.
import { builder } from './builder.ts';
import './scalars.ts';
import './enums.ts';
import './account.ts';
import './amo-user.ts';
import './pipeline.ts';
import './step.ts';
import './field.ts';
import './tag.ts';
import './rule.ts';
import './utm.ts';
import './sync-job.ts';
import './delivery.ts';

builder.queryType({ authScopes: { tenant: true } });
builder.mutationType({ authScopes: { tenant: true } });
builder.subscriptionType({ authScopes: { tenant: true } });

export const schema = builder.toSchema({ sortSchema: true });
