import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArtifactStore } from '@flynn-edge/host-jobs';
import { createHttpServer, createLogger, type HttpServer } from '@flynn-edge/service-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactsApiPlugin } from '../src/artifacts-api.js';

// The artifact routes alone, in process, with a small PUT limit: bodies past the server's 1 MiB
// JSON limit stream through, and a body past the artifact limit is refused with an answer (the
// connection is dropped after it, not before).

const dir = mkdtempSync(join(tmpdir(), 'artifacts-api-'));
let server: HttpServer;
let base: string;
const LIMIT = 4 * 1024 * 1024;

beforeAll(async () => {
  server = createHttpServer({
    component: 'host-test',
    logger: createLogger({ component: 'host-test', level: 'warn' }),
  });
  await server.register(artifactsApiPlugin, {
    store: new ArtifactStore(join(dir, 'artifacts')),
    maxBytes: LIMIT,
  });
  await server.listen({ host: '127.0.0.1', port: 0 });
  const addr = server.server.address() as { port: number };
  base = `http://127.0.0.1:${addr.port}`;
});

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A gzip tarball of one file of `bytes` random bytes (random: gzip cannot shrink it). */
function tarballOf(bytes: number): Buffer {
  const src = mkdtempSync(join(dir, 'src-'));
  writeFileSync(join(src, 'blob'), randomBytes(bytes));
  return execFileSync('tar', ['-cz', '-f', '-', '-C', src, '.'], { maxBuffer: 64 * 1024 * 1024 });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('artifact routes', () => {
  it('takes a 3 MB tarball (past the 1 MiB JSON body limit), chunked or not', async () => {
    const body = tarballOf(3 * 1024 * 1024);
    const res = await fetch(`${base}/host/artifacts/${sha(body)}`, { method: 'PUT', body });
    expect(res.status).toBe(201);
    // Chunked (no content-length), no content type.
    const chunked = await fetch(`${base}/host/artifacts/${sha(body)}`, {
      method: 'PUT',
      body: new Blob([body]).stream(),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(200);
  });

  it('refuses a body past the limit with request_body_too_big, then serves on', async () => {
    const body = tarballOf(LIMIT + 1024 * 1024);
    const res = await fetch(`${base}/host/artifacts/${sha(body)}`, { method: 'PUT', body }).catch(
      (e: Error) => e,
    );
    // The answer comes while the body is still arriving; a client may see the reset first.
    if (res instanceof Response) {
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ code: 'request_body_too_big' });
    }
    expect((await fetch(`${base}/host/artifacts/${sha(body)}`, { method: 'HEAD' })).status).toBe(404);
  });
});
