import { defineConfig } from 'vitest/config';

// One vitest run over every workspace: each package and app keeps its own tests under test/,
// and the suites that start several apps together live in the test/ workspace (test/suites).
export default defineConfig({
  test: {
    projects: ['packages/*', 'apps/*', 'test'],
  },
});
