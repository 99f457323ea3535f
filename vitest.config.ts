import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Integration suites start moto and the simulator once per file; give them room on 2 cores.
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default', 'json'],
    outputFile: { json: '.local/test-report.json' },
    // `npm run coverage`: the Lambda code and its core, measured across all suites (integration
    // tests run the handlers in-process), held to the floor below.
    coverage: {
      provider: 'v8',
      include: ['functions/**/*.ts'],
      reporter: ['text-summary', 'html'],
      reportsDirectory: '.local/coverage',
      // Measured at 91 % statements, 87 % branches, 96 % functions, 93 % lines: a floor a little below.
      thresholds: { statements: 88, branches: 83, functions: 92, lines: 90 },
    },
  },
});
