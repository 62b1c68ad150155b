import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { buildSchema, findBreakingChanges, findDangerousChanges } from 'graphql';
import { schema } from '../src/schema/index.ts';
import { printedSchema } from '../src/schema/print.ts';

const root = path.resolve(import.meta.dirname, '..');
const contractPath = path.join(root, 'contract/schema.graphql');

test('schema/schema.graphql is the printed Pothos schema (run `npm run schema:print` after a change)', () => {
  const checkedIn = readFileSync(path.join(root, 'schema/schema.graphql'), 'utf8');
  assert.equal(checkedIn, printedSchema());
});

test('every type, field, argument and enum value of the contract is served with a compatible type', () => {
  const contract = buildSchema(readFileSync(contractPath, 'utf8'));
  // The contract is the "old" schema: anything that would break one of its clients is listed.
  const breaking = findBreakingChanges(contract, schema).map((c) => `${c.type}: ${c.description}`);
  assert.deepEqual(breaking, []);
  // Changed argument defaults would silently change what clients get.
  const changedDefaults = findDangerousChanges(contract, schema)
    .filter((c) => c.type === 'ARG_DEFAULT_VALUE_CHANGE')
    .map((c) => c.description);
  assert.deepEqual(changedDefaults, []);
});
