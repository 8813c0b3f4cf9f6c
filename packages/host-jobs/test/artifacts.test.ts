import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { ArtifactError, ArtifactStore, fetchArtifactFromHosts } from '../src/artifacts.js';
import { JobSpecError } from '../src/types.js';
import { cleanup, tempDir } from './helpers.js';

// The tar artifact store on real files, with tarballs made by GNU tar (an essential Debian
// package): what it unpacks, and every archive it must refuse without writing outside its root.

const servers: Server[] = [];
afterAll(async () => {
  for (const srv of servers) {
    srv.closeAllConnections();
    await new Promise((r) => srv.close(r));
  }
  await cleanup();
});

/** A real HTTP server on 127.0.0.1 answering every request with `handle`; its base URL. */
async function host(handle: Parameters<typeof createServer>[1]): Promise<string> {
  const srv = createServer(handle);
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function* chunks(b: Buffer, size = 1000): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

/** `tar -czf - <args>` run in `cwd`. */
function tgz(cwd: string, args: string[]): Buffer {
  return execFileSync('tar', ['-cz', '-f', '-', ...args], { cwd, maxBuffer: 64 * 1024 * 1024 });
}

const LONG = `${'d'.repeat(60)}/${'f'.repeat(90)}.txt`;

/** A directory with a script, a symlink, a hard link, an empty dir and a 150-char name. */
function sampleDir(): string {
  const d = join(tempDir(), 'app');
  mkdirSync(join(d, 'bin'), { recursive: true });
  mkdirSync(join(d, 'data'));
  mkdirSync(join(d, 'empty'));
  mkdirSync(join(d, LONG, '..'), { recursive: true });
  writeFileSync(join(d, 'bin/hello.js'), 'console.log("hi")\n');
  chmodSync(join(d, 'bin/hello.js'), 0o755);
  writeFileSync(join(d, 'data/a.txt'), 'a\n');
  linkSync(join(d, 'data/a.txt'), join(d, 'data/b.txt'));
  symlinkSync('data/a.txt', join(d, 'link'));
  writeFileSync(join(d, LONG), 'long\n');
  return d;
}

function expectNothingLeft(store: ArtifactStore): void {
  expect(readdirSync(store.dir)).toEqual([]);
}

async function refused(store: ArtifactStore, body: Buffer): Promise<ArtifactError> {
  const err = await store.put(sha(body), chunks(body)).catch((e) => e);
  expect(err).toBeInstanceOf(ArtifactError);
  expectNothingLeft(store);
  return err as ArtifactError;
}

describe('ArtifactStore', () => {
  for (const format of ['gnu', 'pax', 'ustar'] as const) {
    it(`unpacks a ${format} tarball of a directory, atomically and once`, async () => {
      const src = sampleDir();
      // ustar holds the 155-character name in its prefix field, gnu in an L member, pax in x.
      const body = tgz(src, [`--format=${format}`, '.']);
      const store = new ArtifactStore(join(tempDir(), 'artifacts'));
      const id = sha(body);
      expect(store.has(id)).toBe(false);
      expect(await store.put(id, chunks(body))).toEqual({ created: true, size: body.length });
      const root = store.rootOf(id);
      expect(readFileSync(join(root, 'bin/hello.js'), 'utf8')).toBe('console.log("hi")\n');
      expect(statSync(join(root, 'bin/hello.js')).mode & 0o777).toBe(0o755);
      expect(readlinkSync(join(root, 'link'))).toBe('data/a.txt');
      expect(statSync(join(root, 'data/b.txt')).ino).toBe(statSync(join(root, 'data/a.txt')).ino);
      expect(lstatSync(join(root, 'empty')).isDirectory()).toBe(true);
      expect(readFileSync(join(root, LONG), 'utf8')).toBe('long\n');
      expect(readFileSync(store.tarballOf(id))).toEqual(body);
      expect(store.size(id)).toBe(body.length);
      // Again: checked, not unpacked again.
      expect(await store.put(id, chunks(body))).toEqual({ created: false, size: body.length });
      expect(readdirSync(store.dir).sort()).toEqual([id, `${id}.tar.gz`]);
    });
  }

  it('refuses a body whose sha256 is not the id, and an id that is no sha256', async () => {
    const store = new ArtifactStore(join(tempDir(), 'artifacts'));
    const body = tgz(sampleDir(), ['.']);
    const want = sha(Buffer.from('something else'));
    const err = await store.put(want, chunks(body)).catch((e) => e);
    expect(err).toMatchObject({
      kind: 'mismatch',
      message: `artifact sha256 mismatch: got ${sha(body)}, want ${want}`,
    });
    expectNothingLeft(store);
    await expect(store.put(want.toUpperCase(), chunks(body))).rejects.toMatchObject({ kind: 'invalid_id' });
  });

  it('refuses what is not a gzip tarball', async () => {
    const store = new ArtifactStore(join(tempDir(), 'artifacts'));
    const notGzip = await refused(store, Buffer.from('just some text\n'));
    expect(notGzip.kind).toBe('not_tarball');
    expect(notGzip.message).toMatch(/^artifact is not a gzip tarball: /);
    const notTar = await refused(store, gzipSync(Buffer.alloc(2048, 'x')));
    expect(notTar.message).toBe('artifact is not a gzip tarball: bad tar header checksum');
    const empty = await refused(store, gzipSync(Buffer.alloc(0)));
    expect(empty.message).toBe('artifact is not a gzip tarball: empty archive');
    const good = tgz(sampleDir(), ['.']);
    const truncated = await refused(store, good.subarray(0, good.length - 20));
    expect(truncated.kind).toBe('not_tarball');
  });

  it('refuses members that would land outside its root, and writes nothing outside', async () => {
    const base = tempDir();
    const work = join(base, 'w', 'x');
    mkdirSync(work, { recursive: true });
    writeFileSync(join(base, 'w', 'outside.txt'), 'out\n');
    writeFileSync(join(work, 'in.txt'), 'in\n');
    symlinkSync('../../etc', join(work, 'escape'));
    symlinkSync('/etc', join(work, 'abs-link'));
    mkdirSync(join(work, 'sub'));
    symlinkSync('../..', join(work, 'sub', 'up'));
    symlinkSync('.', join(work, 'dot'));
    writeFileSync(join(work, 'victim.txt'), 'v\n');
    const store = new ArtifactStore(join(base, 'store', 'artifacts'));
    const cases: Array<[string[], RegExp]> = [
      [['-P', 'in.txt', '../outside.txt'], /member name with '\.\.': "\.\.\/outside\.txt"/],
      [['-P', join(base, 'w', 'outside.txt')], /absolute member name/],
      [['in.txt', 'escape'], /symbolic link "escape" points outside: "\.\.\/\.\.\/etc"/],
      [['abs-link'], /symbolic link "abs-link" to an absolute path/],
      [['sub'], /symbolic link "sub\/up" points outside/],
      // A symlink to "." is fine alone; a member beneath it is not (dot/sub/up would be root/..).
      [['dot', '--transform', 's,^victim.txt,dot/victim.txt,', 'victim.txt'], /beneath a symbolic link/],
    ];
    for (const [args, why] of cases) {
      const err = await refused(store, tgz(work, args));
      expect(err.kind).toBe('unsafe');
      expect(err.message).toMatch(/^artifact refused: /);
      expect(err.message).toMatch(why);
    }
    expect(readdirSync(join(base, 'store'))).toEqual(['artifacts']);
    expect(readFileSync(join(base, 'w', 'outside.txt'), 'utf8')).toBe('out\n');
    expect(existsSync(join(base, 'store', 'victim.txt'))).toBe(false);
  });

  it('refuses a body over the limit', async () => {
    const store = new ArtifactStore(join(tempDir(), 'artifacts'));
    const body = tgz(sampleDir(), ['.']);
    await expect(store.put(sha(body), chunks(body), { maxBytes: 100 })).rejects.toMatchObject({
      kind: 'too_big',
    });
    expectNothingLeft(store);
  });

  it('removes what a crash left half done when it opens', () => {
    const dir = join(tempDir(), 'artifacts');
    mkdirSync(join(dir, '.tmp-1234'), { recursive: true });
    writeFileSync(join(dir, '.tmp-1234.tar.gz'), 'x');
    new ArtifactStore(dir);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('fetchArtifactFromHosts', () => {
  it('tries host after host: absent, wrong bytes, stalled, then one that has it', async () => {
    const body = tgz(sampleDir(), ['.']);
    const id = sha(body);
    const seen: string[] = [];
    const urls = [
      await host((_q, r) => {
        r.writeHead(404).end();
      }),
      await host((_q, r) => {
        r.writeHead(200).end(Buffer.from('not the artifact'));
      }),
      await host((_q, r) => {
        r.writeHead(200, { 'content-length': String(body.length) });
        r.write(body.subarray(0, 100)); // then nothing more
      }),
      await host((q, r) => {
        seen.push(String(q.headers.authorization));
        r.writeHead(200).end(body);
      }),
    ];
    const store = new ArtifactStore(join(tempDir(), 'artifacts'));
    const warnings: string[] = [];
    await fetchArtifactFromHosts(store, id, urls, {
      headers: { authorization: 'Bearer k' },
      idleTimeoutMs: 300,
      warn: (url, err) => warnings.push(`${urls.indexOf(url.replace(/\/host\/.*$/, ''))}: ${err.message}`),
    });
    expect(store.has(id)).toBe(true);
    expect(seen).toEqual(['Bearer k']);
    expect(warnings).toEqual([
      expect.stringMatching(/^1: artifact sha256 mismatch/),
      '2: nothing received for 300 ms',
    ]);
  });

  it('refuses (JobSpecError on artifact) when no host has it', async () => {
    const store = new ArtifactStore(join(tempDir(), 'artifacts'));
    const id = sha(Buffer.from('nowhere'));
    const none = await host((_q, r) => {
      r.writeHead(404).end();
    });
    const err = await fetchArtifactFromHosts(store, id, [none]).catch((e) => e);
    expect(err).toBeInstanceOf(JobSpecError);
    expect(err).toMatchObject({ field: 'artifact', message: `artifact ${id} is not available on any host` });
    expectNothingLeft(store);
  });
});
