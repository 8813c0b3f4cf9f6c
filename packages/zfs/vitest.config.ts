import { defineProject } from 'vitest/config';

// zfs-fuse is one daemon per machine: test/global-setup.ts starts it once for the package (if no
// ZFS answers) and each test file uses its own pool names.
export default defineProject({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
