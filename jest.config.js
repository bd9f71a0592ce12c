// Jest, in projects by tier (design §9). `npm test` (test/run.mjs) makes the dev CA and sets NODE_EXTRA_CA_CERTS
// before Jest starts, because Node reads it only at start-up; the unit tier needs neither.
/** @type {import('jest').Config['projects'][number]} */
const common = {
  testEnvironment: 'node',
  // TypeScript through SWC, compiled to CommonJS; type errors are `npm run typecheck`'s job. jose and oauth4webapi ship ESM only.
  transform: {
    '^.+\\.(ts|js|mjs)$': [
      '@swc/jest',
      {
        jsc: { parser: { syntax: 'typescript' }, target: 'es2022', keepClassNames: true },
        module: { type: 'commonjs' },
      },
    ],
  },
  transformIgnorePatterns: ['/node_modules/(?!(jose|oauth4webapi)/)'],
  setupFilesAfterEnv: ['<rootDir>/test/_support/jest-setup.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/', '/.local/', '/.deploy/'],
  // `npm run build` stages the deploy package in .deploy/ (its package.json has the project's name).
  modulePathIgnorePatterns: ['<rootDir>/.deploy/'],
};

const tier = (displayName, ...dirs) => ({
  ...common,
  displayName,
  testMatch: dirs.map((dir) => `<rootDir>/test/${dir}/**/*.test.ts`),
});

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    tier('unit', 'core', 'shared', 'unit'),
    tier('integration', 'integration', 'adapters', 'dev', 'build'),
    tier('security', 'security'),
    tier('faults', 'faults'),
    tier('e2e', 'e2e'),
    tier('infra', 'infra'),
  ],
  maxWorkers: 2,
  reporters: ['default', '<rootDir>/test/_support/count-reporter.js'],
  coverageProvider: 'v8',
  // Type-only modules (interfaces) have no code to cover.
  collectCoverageFrom: ['shared/**/*.ts', 'functions/**/*.ts', '!shared/ports.ts', '!shared/core/deps.ts'],
  coverageReporters: ['text-summary', 'text'],
  coverageThreshold: { './shared/': { lines: 90 } },
};
