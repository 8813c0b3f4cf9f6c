import { spawn } from 'node:child_process';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomically } from '../src/format/atomic-file.js';
import { tempDir } from './format-helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(() => cleanup());

describe('writeFileAtomically', () => {
  it('writes <file>.partial (0600) and renames it', async () => {
    const file = join(dir, 'b.tar');
    await writeFile(`${file}.partial`, 'stale', { mode: 0o644 });
    let modeWhileWriting = 0;
    await writeFileAtomically(file, async (out) => {
      out.write('hello ');
      modeWhileWriting = (await stat(`${file}.partial`)).mode & 0o777;
      out.write('world');
    });
    expect(modeWhileWriting).toBe(0o600);
    expect(await readFile(file, 'utf8')).toBe('hello world');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['b.tar']);
  });

  it('leaves no file when produce throws, after writing or before', async () => {
    const file = join(dir, 'b.tar');
    await expect(
      writeFileAtomically(file, async (out) => {
        out.write(Buffer.alloc(3 << 20));
        await new Promise((r) => setImmediate(r));
        throw new Error('host h2 unreachable');
      }),
    ).rejects.toThrow('host h2 unreachable');
    await expect(
      writeFileAtomically(file, async () => {
        throw new Error('early');
      }),
    ).rejects.toThrow('early');
    expect(await readdir(dir)).toEqual([]);
  });

  it('keeps an existing file when a new write fails', async () => {
    const file = join(dir, 'b.tar');
    await writeFile(file, 'old');
    await expect(
      writeFileAtomically(file, async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await readFile(file, 'utf8')).toBe('old');
    expect(await readdir(dir)).toEqual(['b.tar']);
  });

  it('removes the partial file when the process is killed by SIGTERM mid-write', async () => {
    // The module imports only node builtins: transpile it for a plain node child.
    const src = join(dirname(fileURLToPath(import.meta.url)), '../src/format/atomic-file.ts');
    const js = ts.transpileModule(await readFile(src, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    await writeFile(join(dir, 'atomic-file.mjs'), js);
    const file = join(dir, 'out', 'b.tar');
    await writeFile(
      join(dir, 'child.mjs'),
      `import { mkdirSync } from 'node:fs';
       import { writeFileAtomically } from './atomic-file.mjs';
       mkdirSync(${JSON.stringify(dirname(file))});
       await writeFileAtomically(${JSON.stringify(file)}, async (out) => {
         out.write(Buffer.alloc(1 << 20), () => console.log('writing'));
         await new Promise(() => setInterval(() => {}, 1000));
       });`,
    );
    const child = spawn(process.execPath, [join(dir, 'child.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d) => String(d).includes('writing') && resolve());
      child.on('exit', (code) => reject(new Error(`child exited ${code}`)));
    });
    expect(await readdir(dirname(file))).toEqual(['b.tar.partial']);
    const exited = new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_c, sig) => r(sig)));
    child.kill('SIGTERM');
    expect(await exited).toBe('SIGTERM');
    expect(await readdir(dirname(file))).toEqual([]);
  });
});
