// Prints the Pothos schema, sorted, to schema/schema.graphql (checked in;
// a test fails when it is stale).
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { printedSchema } from '../src/schema/print.ts';

const target = path.resolve(import.meta.dirname, '../schema/schema.graphql');
writeFileSync(target, printedSchema());
console.log(`wrote ${path.relative(process.cwd(), target)}`);
