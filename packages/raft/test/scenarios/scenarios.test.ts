// Data-driven Raft scenarios (etcd-io/raft's testdata/*.txt style): each *.txt in this folder is a
// script of commands with their expected output; see README.md for the command language.
//
//   npx vitest run packages/raft/test/scenarios             check every scenario
//   REWRITE=1 npx vitest run packages/raft/test/scenarios   regenerate the expected outputs
//
// A rewrite only replaces outputs (comments and commands stay). READ the diff before keeping it:
// the golden files are the specification, a rewrite that nobody reviewed proves nothing.

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatFile, parseFile, type TestCase } from './datadriven.js';
import { InteractionEnv } from './interaction-env.js';

const dir = dirname(fileURLToPath(import.meta.url));
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.txt'))
  .sort();
const rewrite = process.env.REWRITE === '1';

describe('raft scenarios', () => {
  it('has scenario files', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it.each(files)('%s', (file) => {
    const path = join(dir, file);
    const original = readFileSync(path, 'utf8');
    const chunks = parseFile(original, file);
    const env = new InteractionEnv();
    const outputs = new Map<TestCase, string>();
    for (const c of chunks) {
      if (c.kind !== 'case') continue;
      const actual = env.handle(c.tc);
      outputs.set(c.tc, actual);
      if (!rewrite) expect(actual, `${file}:${c.tc.line}: ${c.tc.cmdLine}`).toBe(c.tc.expected);
    }
    if (rewrite) {
      const updated = formatFile(chunks, outputs);
      if (updated !== original) writeFileSync(path, updated);
    }
  });
});
