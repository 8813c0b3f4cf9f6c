import { afterEach, describe, expect, it } from 'vitest';
import { get, json, RawClient, route, startBackend, startProxy } from './helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

describe('pipelining', () => {
  it('answers pipelined requests in order, across backends, 404s and bodies', async () => {
    const p = await startProxy();
    cleanups.push(() => p.stop());
    // A slow and a fast backend: order must still follow the requests.
    const slow = await startBackend((req, res) => setTimeout(() => res.end(`slow ${req.url}`), 30));
    const fast = await startBackend((req, res, body) => res.end(`fast ${req.url} ${body}`));
    cleanups.push(
      () => slow.close(),
      () => fast.close(),
    );
    p.resolver.set('slow.test', route(), [{ addr: slow.addr }]);
    p.resolver.set('fast.test', route(), [{ addr: fast.addr }]);
    const c = new RawClient(p.port);
    cleanups.push(() => c.destroy());
    const reqs = [
      get('slow.test', '/1'),
      get('fast.test', '/2'),
      get('missing.test', '/3'),
      'POST /4 HTTP/1.1\r\nHost: fast.test\r\nContent-Length: 3\r\n\r\nabc',
      get('slow.test', '/5'),
      'POST /6 HTTP/1.1\r\nHost: fast.test\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n',
      get('fast.test', '/7'),
    ];
    c.write(reqs.join(''));
    const bodies: string[] = [];
    for (let i = 0; i < reqs.length; i++) bodies.push((await c.read()).body.toString());
    expect(bodies).toEqual([
      'slow /1',
      'fast /2 ',
      'Not Found\n',
      'fast /4 abc',
      'slow /5',
      'fast /6 z',
      'fast /7 ',
    ]);
  });

  it('answers a pipelined burst of 200 requests in order', async () => {
    const p = await startProxy();
    cleanups.push(() => p.stop());
    const b = await startBackend();
    cleanups.push(() => b.close());
    p.resolver.set('app.test', route(), [{ addr: b.addr }]);
    const c = new RawClient(p.port);
    cleanups.push(() => c.destroy());
    let all = '';
    for (let i = 0; i < 200; i++) all += get('app.test', `/${i}`);
    c.write(all);
    for (let i = 0; i < 200; i++) expect(json(await c.read()).url).toBe(`/${i}`);
  });
});

describe('pipelined floods', () => {
  it('answers 20,000 pipelined 404s without deep recursion, as the client reads', async () => {
    const p = await startProxy();
    cleanups.push(() => p.stop());
    const c = new RawClient(p.port);
    cleanups.push(() => c.destroy());
    const one = get('missing.test');
    c.write(one.repeat(20_000));
    const expected = (await (async () => {
      const r = await c.read();
      return r.raw.length;
    })()) as number;
    await c.waitBytes(expected * 19_999, 20_000);
    expect(p.proxy.openConnections).toBe(1);
  });
});
