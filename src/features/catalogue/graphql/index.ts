// The catalogue's GraphQL types and queries, registered on the one builder.
import './amo-user.ts';
import './pipeline.ts';
import './step.ts';
import './field.ts';
import './tag.ts';
import './sync-job.ts';
