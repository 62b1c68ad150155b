import { lexicographicSortSchema, printSchema } from 'graphql';
import { schema } from './index.ts';

export const printedSchema = () => `${printSchema(lexicographicSortSchema(schema))}\n`;
