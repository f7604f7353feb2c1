import { defineConfig } from 'vitest/config'

// chDB allows one data directory per process, so every test file runs in its own forked process.
export default defineConfig({
  resolve: { conditions: ['source'] },
  test: {
    pool: 'forks',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
