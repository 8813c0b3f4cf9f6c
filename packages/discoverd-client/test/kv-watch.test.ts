import type { ServerResponse } from 'node:http';
import type { KvEvent } from '@flynn-edge/discoverd-state';
import { waitFor } from '@flynn-edge/process-kit';
import { afterEach, describe, expect, it } from 'vitest';
import { DiscoverdClient } from '../src/client.js';
import { kvKeyPath } from '../src/kv.js';
import { FakeServer, json, type Recorded } from './fake-server.js';

// KV watch mechanics against a scripted server: "from now" pinning, resume after a dropped
// stream, compaction with and without a re-list handler.

const servers: FakeServer[] = [];
const clients: DiscoverdClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function frame(res: ServerResponse, revision: number, events: object[]): void {
  if (!res.headersSent) res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
  res.write(`id: ${revision}\ndata: ${JSON.stringify({ revision, events })}\n\n`);
}

async function setup(handler: (req: Recorded, res: ServerResponse, n: number) => void) {
  let n = 0;
  const s = await new FakeServer((req, res) => handler(req, res, ++n)).start();
  servers.push(s);
  const c = new DiscoverdClient({ servers: [s.url], env: {}, followPeers: false, clusterKey: 'k' });
  clients.push(c);
  return { s, c };
}

describe('kvKeyPath', () => {
  it('encodes segments and refuses dot segments', () => {
    expect(kvKeyPath('a/b c/%')).toBe('/kv/a/b%20c/%25');
    expect(kvKeyPath('a/../b')).toBeUndefined();
    expect(kvKeyPath('./b')).toBeUndefined();
    expect(kvKeyPath('a/.b')).toBe('/kv/a/.b');
  });
});

describe('KvWatch', () => {
  it('pins "from now" with a list, resumes after a dropped stream without repeats', async () => {
    const { s, c } = await setup((req, res, n) => {
      if (!req.url.includes('watch=true')) return json(res, 200, { revision: 10, entries: [], more: false });
      if (n === 2) {
        frame(res, 11, [{ type: 'put', key: 'r/a', value: '1' }]);
        frame(res, 12, [
          { type: 'put', key: 'r/b', value: '2' },
          { type: 'delete', key: 'r/a', prev_revision: 11 },
        ]);
        setTimeout(() => res.destroy(), 20);
      } else {
        // A server that repeats 12 must not make the client repeat it.
        frame(res, 12, [{ type: 'put', key: 'r/b', value: '2' }]);
        frame(res, 13, [{ type: 'put', key: 'r/c', value: '3' }]);
      }
    });
    const got: KvEvent[] = [];
    const w = c.kv.watch('r/', { onEvent: (e) => got.push(e) });
    await waitFor(() => got.length === 4, { what: 'four events' });
    expect(got).toEqual([
      { type: 'put', key: 'r/a', value: '1', revision: 11 },
      { type: 'put', key: 'r/b', value: '2', revision: 12 },
      { type: 'delete', key: 'r/a', revision: 12, prevRevision: 11 },
      { type: 'put', key: 'r/c', value: '3', revision: 13 },
    ]);
    const urls = s.requests.map((r) => r.url);
    expect(urls[0]).toBe('/kv?prefix=r%2F&limit=1&stale=true');
    expect(urls[1]).toBe('/kv?watch=true&prefix=r%2F&start_revision=11');
    expect(urls[2]).toBe('/kv?watch=true&prefix=r%2F&start_revision=13');
    expect(s.requests[1]!.headers.authorization).toBe('Bearer k');
    expect(s.requests[1]!.headers.accept).toBe('text/event-stream');
    expect(w.revision).toBe(13);
    w.close();
  });

  it('asks onCompacted for a new start and resumes after it', async () => {
    const { s, c } = await setup((req, res) => {
      if (req.url.endsWith('start_revision=3')) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end('event: compacted\ndata: {"compact_revision":50,"revision":60}\n\n');
      } else {
        frame(res, 61, [{ type: 'put', key: 'k', value: 'v' }]);
      }
    });
    const compactions: unknown[] = [];
    const got: KvEvent[] = [];
    const w = c.kv.watch('', {
      startRevision: 3,
      onCompacted: async (info) => {
        compactions.push(info);
        return 60; // as if re-listed at revision 60
      },
      onEvent: (e) => got.push(e),
    });
    await waitFor(() => got.length === 1, { what: 'event after compaction' });
    expect(compactions).toEqual([{ compactRevision: 50, revision: 60 }]);
    expect(s.requests.map((r) => r.url)).toEqual([
      '/kv?watch=true&start_revision=3',
      '/kv?watch=true&start_revision=61',
    ]);
    w.close();
  });

  it('ends with a compacted error when nobody handles compaction', async () => {
    const { c } = await setup((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end('event: compacted\ndata: {"compact_revision":50,"revision":60}\n\n');
    });
    const errors: Error[] = [];
    const w = c.kv.watch('p/', { startRevision: 1, onError: (e) => errors.push(e) });
    const err = await w.done;
    expect(err).toMatchObject({ code: 'compacted', detail: { compactRevision: 50, revision: 60 } });
    expect(errors).toEqual([err]);
  });
});
