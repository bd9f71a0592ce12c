// ESLint (flat config): typescript-eslint's recommended rules, Prettier owns formatting, and the one boundary the
// design fixes: shared/core is pure (no SDK, no HTTP server, no environment), reached only through shared/ports.ts.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

const SDKS = ['@azure/*', '@azure/msal-node', 'node:http', 'node:https', 'node:net', 'http', 'https', 'net', 'cookie'];

export default tseslint.config(
  { ignores: ['dist/**', '.deploy/**', 'node_modules/**', '.local/**', 'coverage/**', 'redteam/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        __dirname: 'readonly',
        require: 'readonly',
        module: 'writable',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        URL: 'readonly',
        URLSearchParams: 'readonly',
        fetch: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        structuredClone: 'readonly',
        crypto: 'readonly',
        performance: 'readonly',
        queueMicrotask: 'readonly',
        Response: 'readonly',
        Request: 'readonly',
        Headers: 'readonly',
        document: 'readonly',
        window: 'readonly',
        location: 'readonly',
        sessionStorage: 'readonly',
        history: 'readonly',
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      // Input validation matches control characters on purpose (CR/LF injection, NUL).
      'no-control-regex': 'off',
      // A logger or clock closure may read a variable assigned once, later.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    // Tools, tests and benchmarks load modules at run time (Jest's isolated registry, the dev host's loader) and
    // read loosely typed JSON and child-process messages.
    files: ['dev/**', 'test/**', 'bench/**', 'scripts/**'],
    rules: { '@typescript-eslint/no-require-imports': 'off', '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['shared/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: SDKS,
              message:
                'shared/core is pure: SDKs and HTTP live in shared/adapters and shared/http, behind shared/ports.ts.',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'shared/core reads no environment: configuration comes in through deps.' },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
