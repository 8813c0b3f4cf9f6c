import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { type Entry, EntryType, type Snapshot } from '../../src/core/types.js';

const dirs: string[] = [];

/** A fresh directory under the OS temp dir, removed after the test. */
export async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'raft-storage-'));
  dirs.push(d);
  return join(d, 'node');
}

afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

export function entry(index: number, term = 1, size = 8): Entry {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (index * 31 + i) & 0xff;
  return { index, term, type: EntryType.Normal, data };
}

export function range(from: number, to: number, term = 1, size = 8): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, term, size));
  return out;
}

export function snapshot(index: number, term: number, payload = `state@${index}`): Snapshot {
  return {
    meta: { index, term, config: { voters: ['a', 'b', 'c'], learners: [] } },
    data: new TextEncoder().encode(payload),
  };
}

/** [index, term] pairs: compact to compare logs. */
export function ids(entries: Entry[]): [number, number][] {
  return entries.map((e) => [e.index, e.term]);
}

export async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith('.log')).sort();
}

export async function snapshotFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith('.snap')).sort();
}
