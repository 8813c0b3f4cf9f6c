import { defineConfig } from 'vitest/config';

// One vitest run over every workspace; each package keeps its own tests under test/.
export default defineConfig({
  test: {
    projects: ['packages/*', 'apps/*'],
  },
});
