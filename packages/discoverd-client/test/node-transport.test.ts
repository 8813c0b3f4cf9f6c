import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DiscoverdError } from '../src/errors.js';
import { Transport } from '../src/http.js';
import { ServerList } from '../src/servers.js';

// The default request path (node:http with a keep-alive agent, no injected fetch): connections
// are reused, and a body that stalls or breaks off maps to the same errors fetch gave.

type Handler = (n: number, res: ServerResponse) => void;

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

async function serve(handler: Handler): Promise<{ url: string; connections: () => number }> {
  let connections = 0;
  let n = 0;
  const s = createServer((req, res) => {
    req.resume();
    req.on('end', () => handler(++n, res));
  });
  s.on('connection', () => connections++);
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  closers.push(async () => {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, connections: () => connections };
}

function transport(url: string, extra: Partial<ConstructorParameters<typeof Transport>[0]> = {}) {
  return new Transport({ servers: new ServerList([url], false), roundDelayMs: 10, ...extra });
}

describe('node:http transport', () => {
  it('reuses one keep-alive connection for sequential requests, bodies and redirects included', async () => {
    const s = await serve((n, res) => {
      if (n === 2) {
        res.writeHead(307, { location: '/kv/b' });
        res.end('redirect body the client must drain');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ n }));
    });
    const t = transport(s.url);
    expect(await t.json('PUT', '/kv/a', { body: { value: 'x' } })).toEqual({ n: 1 });
    expect(await t.json('GET', '/kv/a')).toEqual({ n: 3 });
    for (let i = 0; i < 5; i++) await t.json('GET', '/kv/a');
    expect(s.connections()).toBe(1);
  });

  it('times out a body that stalls, as a retryable timeout', async () => {
    const s = await serve((_n, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"partial":');
    });
    const t = transport(s.url, { requestTimeoutMs: 150, retryDeadlineMs: 0 });
    const err = (await t.json('GET', '/kv/a').catch((e) => e)) as DiscoverdError;
    expect(err).toBeInstanceOf(DiscoverdError);
    expect(err).toMatchObject({ code: 'timeout', retry: true });
  });

  it('retries an answer cut off mid-body (network_error) and takes the next one', async () => {
    const s = await serve((n, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      if (n === 1) {
        res.write('{"cut":');
        setTimeout(() => res.destroy(), 10);
        return;
      }
      res.end(JSON.stringify({ ok: true }).padEnd(100));
    });
    const t = transport(s.url);
    expect(await t.json('GET', '/kv/a')).toEqual({ ok: true });
  });

  it('sends the body with its length and the cluster key', async () => {
    let seen: { length?: string; auth?: string; body: string } | undefined;
    const srv = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => {
        body += c;
      });
      req.on('end', () => {
        seen = { length: req.headers['content-length'], auth: req.headers.authorization, body };
        res.end('{}');
      });
    });
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    closers.push(async () => {
      srv.closeAllConnections();
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    });
    const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
    await transport(url, { clusterKey: 'k' }).json('POST', '/kv/txn', { body: { value: 'é' } });
    expect(seen).toEqual({
      length: String(Buffer.byteLength('{"value":"é"}')),
      auth: 'Bearer k',
      body: '{"value":"é"}',
    });
  });
});
