// Two projects: unit tests need no cluster; e2e tests share one local control plane
// brought up by test/e2e/global-setup.mjs and torn down by test/e2e/global-teardown.mjs.
const common = {
  preset: 'ts-jest/presets/default-esm',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }],
  },
  testEnvironment: 'node',
  testEnvironmentOptions: { globalsCleanup: 'on' },
  // Local clusters' state (etcd's *.snap files look like jest snapshots) and the build output.
  modulePathIgnorePatterns: ['<rootDir>/\\.cluster', '<rootDir>/dist'],
};

export default {
  // e2e tests wait on a real cluster; unit tests finish far sooner.
  testTimeout: 240000,
  reporters: ['default', '<rootDir>/test/summary-reporter.mjs'],
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/unit/setup.ts'],
    },
    {
      ...common,
      displayName: 'e2e',
      // *.check.ts: checks too slow to build for npm test, run by their own npm scripts.
      testMatch: ['<rootDir>/test/e2e/**/*.test.ts', ...(process.env.PODGROUP_E2E_CHECKS === '1' ? ['<rootDir>/test/e2e/**/*.check.ts'] : [])],
      globalSetup: '<rootDir>/test/e2e/global-setup.mjs',
      globalTeardown: '<rootDir>/test/e2e/global-teardown.mjs',
    },
  ],
};
