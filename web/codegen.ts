import type { CodegenConfig } from '@graphql-codegen/cli';

// Typed documents for the admin page's operations (graphql(`...`) calls in src/), from the
// gateway's checked-in schema. `npm run build` runs it first.
const config: CodegenConfig = {
  schema: '../schema/schema.graphql',
  documents: ['src/**/*.{ts,tsx}', '!src/gql/**'],
  ignoreNoDocuments: false,
  generates: {
    'src/gql/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: { useTypeImports: true, enumsAsTypes: true, scalars: { DateTime: 'string', BigInt: 'string' }, nonOptionalTypename: true, skipTypeNameForRoot: true },
    },
  },
};

export default config;
