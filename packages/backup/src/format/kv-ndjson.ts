import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { ArchiveError } from './errors.js';

// kv.ndjson.gz (§8.2): the cluster store at one revision, one JSON object per line.

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

export interface KvPair {
  key: string;
  value: string;
}

/** Orders keys by their UTF-8 bytes (JS string order differs above U+FFFF). */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** gzip (level 9) of one `{"key","value"}\n` per pair, sorted by key (UTF-8 bytes). */
export async function encodeKvNdjsonGz(pairs: KvPair[]): Promise<Buffer> {
  const sorted = [...pairs].sort((a, b) => compareKeys(a.key, b.key));
  for (let i = 1; i < sorted.length; i++) {
    const [a, b] = [sorted[i - 1].key, sorted[i].key];
    if (a === b) throw new Error(`kv.ndjson.gz: duplicate key ${JSON.stringify(a)}`);
    // Lone UTF-16 surrogates all become U+FFFD in UTF-8: two such keys would come back as one.
    if (compareKeys(a, b) === 0)
      throw new Error(
        `cannot back up keys ${JSON.stringify(a)} and ${JSON.stringify(b)}: they are the same in UTF-8 (a lone surrogate becomes U+FFFD); rename one`,
      );
  }
  const text = sorted.map((p) => `${JSON.stringify({ key: p.key, value: p.value })}\n`).join('');
  return gzipAsync(Buffer.from(text), { level: 9 });
}

/** Parses and checks (sorted, unique); throws ArchiveError. */
export async function decodeKvNdjsonGz(data: Buffer, noun = 'backup'): Promise<KvPair[]> {
  const bad = (why: string) => new ArchiveError(`${noun} is corrupt: kv.ndjson.gz: ${why}`);
  let text: string;
  try {
    text = (await gunzipAsync(data)).toString('utf8');
  } catch (err) {
    throw bad((err as Error).message);
  }
  if (text !== '' && !text.endsWith('\n')) throw bad('the last line has no newline');
  const lines = text === '' ? [] : text.slice(0, -1).split('\n');
  const pairs: KvPair[] = [];
  let prev: Buffer | undefined;
  for (let i = 0; i < lines.length; i++) {
    let rec: unknown;
    try {
      rec = JSON.parse(lines[i]);
    } catch {
      throw bad(`line ${i + 1} is not JSON`);
    }
    const { key, value } = (rec ?? {}) as Record<string, unknown>;
    if (typeof key !== 'string' || key === '' || typeof value !== 'string') {
      throw bad(`line ${i + 1} is not a {"key","value"} pair of strings`);
    }
    const kb = Buffer.from(key);
    if (prev) {
      const c = Buffer.compare(prev, kb);
      if (c === 0) throw bad(`duplicate key ${JSON.stringify(key)}`);
      if (c > 0) throw bad(`key ${JSON.stringify(key)} out of order`);
    }
    prev = kb;
    pairs.push({ key, value });
  }
  return pairs;
}
