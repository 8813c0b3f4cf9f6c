import { defineProject } from 'vitest/config';

// The tests run the built CLI (bin/flynn-host.js imports dist/): build first.
export default defineProject({
  test: { include: ['test/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 60_000 },
});
