import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ArchiveError } from '../src/format/errors.js';
import { decodeKvNdjsonGz, encodeKvNdjsonGz } from '../src/format/kv-ndjson.js';

describe('kv.ndjson.gz', () => {
  it('writes one {"key","value"} line per pair, sorted by UTF-8 bytes, and reads it back', async () => {
    // JS string order puts U+1F600 (surrogate 0xD83D) before U+FFFD; UTF-8 bytes the other way
    // round (EF BF BD < F0 9F 98 80). The format is UTF-8 order.
    const pairs = [
      { key: 'b', value: '2' },
      { key: 'a/\u{1F600}', value: 'emoji' },
      { key: 'a/\uFFFD', value: 'replacement' },
      { key: 'a', value: '{"json":"in a string"}\n' },
    ];
    const gz = await encodeKvNdjsonGz(pairs);
    const text = gunzipSync(gz).toString();
    expect(
      text
        .split('\n')
        .slice(0, -1)
        .map((l) => JSON.parse(l).key),
    ).toEqual(['a', 'a/\uFFFD', 'a/\u{1F600}', 'b']);
    expect(text.endsWith('\n')).toBe(true);
    expect(await decodeKvNdjsonGz(gz)).toEqual([pairs[3], pairs[2], pairs[1], pairs[0]]);
    expect(await decodeKvNdjsonGz(await encodeKvNdjsonGz([]))).toEqual([]);
  });

  it('refuses duplicates when writing', async () => {
    await expect(
      encodeKvNdjsonGz([
        { key: 'a', value: '1' },
        { key: 'a', value: '2' },
      ]),
    ).rejects.toThrow(/duplicate key "a"/);
  });

  it('refuses, in one line, two keys that are the same in UTF-8 (lone surrogates)', async () => {
    // Both lone surrogates (and a real U+FFFD) encode as EF BF BD: the restore would get one key.
    const err = await encodeKvNdjsonGz([
      { key: 'k/\uD800', value: '1' },
      { key: 'k/\uDC00', value: '2' },
    ]).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect(err?.message).toBe(
      'cannot back up keys "k/\\ud800" and "k/\\udc00": they are the same in UTF-8 (a lone surrogate becomes U+FFFD); rename one',
    );
    await expect(
      encodeKvNdjsonGz([
        { key: 'k/\uFFFD', value: '1' },
        { key: 'k/\uD800', value: '2' },
      ]),
    ).rejects.toThrow(/^cannot back up keys .* rename one$/);
  });

  it('refuses bad gzip, bad JSON, duplicates and disorder with one line each', async () => {
    const cases: [Buffer, string][] = [
      [Buffer.from('not gzip'), 'backup is corrupt: kv.ndjson.gz: incorrect header check'],
      [gzipSync('{"key":"a"'), 'backup is corrupt: kv.ndjson.gz: the last line has no newline'],
      [gzipSync('{"key":"a"\n'), 'backup is corrupt: kv.ndjson.gz: line 1 is not JSON'],
      [
        gzipSync('{"key":"a","value":1}\n'),
        'backup is corrupt: kv.ndjson.gz: line 1 is not a {"key","value"} pair of strings',
      ],
      [
        gzipSync('{"key":"a","value":"1"}\n{"key":"a","value":"1"}\n'),
        'backup is corrupt: kv.ndjson.gz: duplicate key "a"',
      ],
      [
        gzipSync('{"key":"b","value":"1"}\n{"key":"a","value":"1"}\n'),
        'backup is corrupt: kv.ndjson.gz: key "a" out of order',
      ],
    ];
    for (const [data, msg] of cases) {
      const err = await decodeKvNdjsonGz(data).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ArchiveError);
      expect((err as Error).message).toBe(msg);
    }
  });
});
