import type { ServerResponse } from 'node:http';
import type { Event, Instance } from '@flynn-edge/discoverd-state';
import { waitFor } from '@flynn-edge/process-kit';
import { afterEach, describe, expect, it } from 'vitest';
import { DiscoverdClient } from '../src/client.js';
import { FakeServer } from './fake-server.js';

// Watch mechanics against a scripted SSE server: reconnect, diffing across connections, server
// errors, idle streams, giving up.

const servers: FakeServer[] = [];
const clients: DiscoverdClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const inst = (n: number, meta?: Record<string, string>): Instance => ({
  id: `id${n}`,
  addr: `127.0.0.1:${1000 + n}`,
  proto: 'tcp',
  ...(meta ? { meta } : {}),
  index: n,
});

function sse(res: ServerResponse, events: (Event | string)[]): void {
  if (!res.headersSent) res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
  for (const e of events) res.write(typeof e === 'string' ? e : `data: ${JSON.stringify(e)}\n\n`);
}

const ev = (kind: Event['kind'], i?: Instance): Event => ({
  service: 's',
  kind,
  ...(i ? { instance: i } : {}),
});

async function setup(script: (conn: number, res: ServerResponse) => void) {
  let conn = 0;
  const s = await new FakeServer((_req, res) => script(++conn, res)).start();
  servers.push(s);
  const c = new DiscoverdClient({ servers: [s.url], env: {}, followPeers: false, retryDeadlineMs: 1000 });
  clients.push(c);
  return { s, c };
}

const show = (e: Event) => (e.instance ? `${e.kind}:${e.instance.id}` : e.kind);

describe('Watch', () => {
  it('reconnects when the stream ends and reports only the differences', async () => {
    const { s, c } = await setup((conn, res) => {
      if (conn === 1) sse(res, [ev('up', inst(1)), ev('up', inst(2)), ev('leader', inst(1)), ev('current')]);
      else sse(res, [ev('up', inst(1)), ev('up', inst(3)), ev('leader', inst(1)), ev('current')]);
    });
    const seen: string[] = [];
    const w = c.watch('s', { onEvent: (e) => seen.push(show(e)) });
    await w.current;
    expect(seen).toEqual(['up:id1', 'up:id2', 'leader:id1', 'current']);
    expect(s.requests[0]!.headers.accept).toBe('text/event-stream');
    expect(s.requests[0]!.url).toBe('/services/s');
    s.dropAll();
    await waitFor(() => seen.length >= 6, { what: 'diff after reconnect' });
    expect(seen.slice(4)).toEqual(['up:id3', 'down:id2']);
    expect(w.connections).toBe(2);
    expect(w.instances.map((i) => i.id)).toEqual(['id1', 'id3']);
    w.close();
    expect(await w.done).toBeUndefined();
  });

  it('filters kinds but still becomes current, and can be iterated', async () => {
    const { c } = await setup((_conn, res) =>
      sse(res, [':\n\n', ev('up', inst(1)), ev('leader', inst(1)), ev('current'), ev('down', inst(1))]),
    );
    const w = c.watch('s', { kinds: ['up', 'down'] });
    await w.current;
    const got: string[] = [];
    for await (const e of w) {
      got.push(show(e));
      if (got.length === 2) break;
    }
    expect(got).toEqual(['up:id1', 'down:id1']);
    w.close();
  });

  it('treats event: error as a broken stream and reconnects', async () => {
    const { c } = await setup((conn, res) => {
      if (conn === 1) {
        sse(res, [ev('up', inst(1)), ev('current')]);
        setTimeout(
          () => sse(res, ['event: error\ndata: discoverd: channel send failed due to blocked receiver\n\n']),
          20,
        );
      } else {
        sse(res, [ev('up', inst(1)), ev('up', inst(2)), ev('current')]);
      }
    });
    const seen: string[] = [];
    const w = c.watch('s', { onEvent: (e) => seen.push(show(e)) });
    await waitFor(() => seen.includes('up:id2'), { what: 'second connection' });
    expect(seen).toEqual(['up:id1', 'current', 'up:id2']);
    w.close();
  });

  it('reconnects an idle stream', async () => {
    const { c } = await setup((conn, res) => {
      if (conn === 1) sse(res, [ev('current')]);
      else sse(res, [ev('up', inst(7)), ev('current')]);
    });
    const seen: string[] = [];
    const w = c.watch('s', { idleTimeoutMs: 200, onEvent: (e) => seen.push(show(e)) });
    await waitFor(() => seen.includes('up:id7'), { what: 'reconnect after idle' });
    w.close();
  });

  it('gives up after the reconnect window and rejects current if it never came', async () => {
    const { s, c } = await setup((_conn, res) => sse(res, [ev('up', inst(1))]));
    const errors: Error[] = [];
    const w = c.watch('s', { reconnectWindowMs: 300, onError: (e) => errors.push(e), onEvent: () => {} });
    await waitFor(() => s.requests.length >= 1);
    await s.close();
    servers.length = 0;
    const err = await w.done;
    expect(err).toBeInstanceOf(Error);
    expect(errors).toEqual([err]);
    await expect(w.current).rejects.toBe(err);
  });

  it('leaderWatch yields leader changes without duplicates', async () => {
    const { s, c } = await setup((conn, res) => {
      if (conn === 1) sse(res, [ev('up', inst(1)), ev('leader', inst(1)), ev('current')]);
      else
        sse(res, [
          ev('up', inst(2)),
          ev('leader', inst(2)),
          ev('current'),
          ev('down', inst(2)),
          ev('leader'),
        ]);
    });
    const lw = c.leaderWatch('s');
    const it = lw[Symbol.asyncIterator]();
    expect((await it.next()).value).toMatchObject({ id: 'id1' });
    s.dropAll();
    expect((await it.next()).value).toMatchObject({ id: 'id2' });
    expect((await it.next()).value).toBeNull();
    expect(lw.leader).toBeNull();
    lw.close();
    expect((await it.next()).done).toBe(true);
  });
});
