// `npm run lint`: @eslint/js and typescript-eslint's recommended rules, and the layout's import
// boundaries (README, "Layout") as rules, so an editor shows a crossing where it is written.
// typescript-eslint runs without type information: tsc already checks the types in npm test, and
// a type-aware lint of every file would cost a second full type-check.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { defineConfig } from 'eslint/config';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX, { createNodeResolver } from 'eslint-plugin-import-x';
import reactHooks from 'eslint-plugin-react-hooks';

const root = import.meta.dirname;
const at = (...p) => path.join(root, ...p);
const features = readdirSync(at('src/features'), { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name);

/** The package the simulator is imported by, and its source (what a relative import resolves to). */
const SIMULATOR = '@quiz-gateway/amo-sim';

/** Zones of import-x/no-restricted-paths: files matching `target` may not import what resolves into `from`. */
const zones = [
  ...features.flatMap((feature) => [
    {
      // Everything in src/ outside the feature: its other files and the other features.
      target: [at('src/*.ts'), at('src/!(features|schema)/**'), at(`src/features/!(${feature})/**`), at('src/schema/!(index).ts'), at('src/schema/*/**')],
      from: at('src/features', feature),
      except: ['index.ts'],
      message: `Another module enters the ${feature} feature only through src/features/${feature}/index.ts.`,
    },
    {
      // The schema's index registers every feature's GraphQL module on the one builder.
      target: at('src/schema/index.ts'),
      from: at('src/features', feature),
      except: ['index.ts', 'graphql.ts', 'graphql/index.ts'],
      message: `src/schema/index.ts enters the ${feature} feature only through its index.ts or its GraphQL module.`,
    },
  ]),
  {
    target: at('src/platform'),
    from: at('src/features'),
    message: 'src/platform/ imports no feature: a feature builds on the platform, not the other way round.',
  },
  {
    // main.ts and app.ts load it in their development branch only (see below); src/dev/ is development code.
    target: [at('src/!(main|app).ts'), at('src/!(dev)/**')],
    from: at('packages/amo-sim'),
    message: `Only development code (src/dev/, the development branch of src/main.ts or src/app.ts) loads ${SIMULATOR}: production never imports it.`,
  },
  {
    target: at('packages/amo-sim'),
    from: at('src'),
    message: `${SIMULATOR} stands alone: it imports nothing of the gateway's src/.`,
  },
];

/** Calls no feature makes: amoCRM is reached only through the typed client methods, never by a raw path. */
const RAW_AMO_CALL = ['request', 'paginate', 'listAll'].flatMap((name) => [
  {
    selector: `CallExpression > MemberExpression.callee[property.name='${name}']`,
    message: `A feature calls amoCRM through the typed client methods, not .${name}() with a raw path.`,
  },
  {
    selector: `CallExpression > MemberExpression.callee[property.value='${name}']`,
    message: `A feature calls amoCRM through the typed client methods, not ['${name}']() with a raw path.`,
  },
]);

export default defineConfig(
  {
    ignores: ['**/node_modules/', '**/dist/', '.data/', 'src/generated/', 'test/generated/', 'web/src/gql/'],
  },
  {
    // Plain Node scripts (scripts/kafka/health.mjs, this file): the few Node globals they use.
    files: ['**/*.{js,mjs}'],
    extends: [js.configs.recommended],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly' } },
  },
  {
    files: ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts', 'packages/*/src/**/*.ts', 'packages/*/test/**/*.ts', 'prisma/*.ts', '*.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommended],
    plugins: { 'import-x': importX },
    settings: {
      // Imports name their .ts files (allowImportingTsExtensions); the simulator resolves through the workspace link.
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js', '.json'], conditionNames: ['types', 'import', 'default'] })],
    },
    rules: {
      'import-x/no-restricted-paths': ['error', { basePath: root, zones }],
      // TypeScript reports undefined names itself, and knows Node's and the DOM's globals (tsconfig lib/types).
      'no-undef': 'off',
      // `_`-prefixed parameters and destructured leftovers are deliberate (an interface's shape, a rest omit).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true }],
    },
  },
  {
    // The admin page (web/, React in the browser): the hooks' rules (and the React Compiler's
    // checks the plugin's recommended set carries) beside the same TypeScript rules.
    files: ['web/src/**/*.{ts,tsx}', 'web/*.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommended, reactHooks.configs.flat.recommended],
    rules: {
      // TypeScript knows the DOM's globals (web/tsconfig.json lib).
      'no-undef': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true }],
    },
  },
  {
    // Tests and benchmarks read GraphQL and HTTP answers as untyped JSON (`(e: any) => e.node`):
    // an `any` there is a test's shorthand, not a hole in the product's types. src/ and
    // packages/*/src keep the rule.
    files: ['test/**/*.ts', 'bench/**/*.ts', 'packages/*/test/**/*.ts', 'prisma/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['src/features/**/*.ts'],
    rules: { 'no-restricted-syntax': ['error', ...RAW_AMO_CALL] },
  },
  {
    // The composition entry points may name the simulator's types at the top and load it with
    // `await import()` in their development branch; a static value import would load it in production.
    files: ['src/main.ts', 'src/app.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [{ name: SIMULATOR, allowTypeImports: true, message: 'Import only its types here; load it with `await import()` in the development branch.' }],
          patterns: [{ group: [`${SIMULATOR}/*`, '**/packages/amo-sim/**'], allowTypeImports: true, message: 'Import only its types here; load it with `await import()`.' }],
        },
      ],
    },
  },
);
