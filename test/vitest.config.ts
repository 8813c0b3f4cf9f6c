import { defineProject } from 'vitest/config';

export default defineProject({ test: { include: ['suites/**/*.test.ts'], testTimeout: 60_000 } });
