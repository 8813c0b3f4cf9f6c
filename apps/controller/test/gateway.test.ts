import { mkdtempSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiscoverdProcessCluster } from '@flynn-edge/discoverd/testing';
import { DiscoverdClient } from '@flynn-edge/discoverd-client';
import { nextPortBlock, waitFor } from '@flynn-edge/process-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControllerProcess } from '../src/process.js';

// The gateway against real processes: three discoverd nodes (the gateway is pointed at a follower
// first, so writes come back as 307s it must follow), the controller process, and a small HTTP
// service registered in discoverd standing in for a host API.

const KEY = 'controller-gateway-test-key';
const BASE = nextPortBlock(6);
const dir = mkdtempSync(join(tmpdir(), 'controller-gw-'));
const discoverd = new DiscoverdProcessCluster({
  size: 3,
  port: BASE,
  dnsPort: BASE + 1,
  dir,
  firstHost: 131,
  env: { CLUSTER_KEY: KEY },
});
const CTL_IP = '127.0.0.134';
const SVC_ADDR = `127.0.0.135:${BASE + 3}`;
let controller: ControllerProcess;
let client: DiscoverdClient;
/** The server the gateway asks first: a follower. */
let follower = '';

/** What the stand-in service saw: per request, method, path, authorization and body size. */
const seen: { method: string; url: string; auth?: string; bytes: number }[] = [];
const service = createServer((req, res) => {
  let bytes = 0;
  req.on('data', (c: Buffer) => {
    bytes += c.length;
  });
  req.on('end', () => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', auth: req.headers.authorization, bytes });
    if (req.url === '/stream') {
      // A stream that only ends when the client goes: the gateway must pass lines on as they come.
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write('{"n":1}\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ bytes }));
  });
});

function keyed(extra: Record<string, string> = {}): Record<string, string> {
  return { authorization: `Bearer ${KEY}`, ...extra };
}

beforeAll(async () => {
  discoverd.start();
  const leader = await discoverd.leader(20_000);
  // A follower first: every write the gateway forwards is redirected to the leader.
  const order = [...discoverd.addrs.filter((_, i) => i !== leader), discoverd.addrs[leader]!];
  follower = order[0]!;
  controller = new ControllerProcess({
    ip: CTL_IP,
    port: BASE + 2,
    discoverd: order.join(','),
    clusterKey: KEY,
    logFile: join(dir, 'controller.log'),
  });
  controller.start();
  await new Promise<void>((r) => service.listen(BASE + 3, '127.0.0.135', r));
  client = new DiscoverdClient({ servers: discoverd.addrs, clusterKey: KEY });
  await client.addServiceAndRegister('test-api', SVC_ADDR);
  await controller.ready();
}, 60_000);

afterAll(async () => {
  await controller?.close();
  await client?.close();
  service.close();
  await discoverd.close();
});

describe('controller gateway', { timeout: 30_000 }, () => {
  it('answers 401 with the envelope to every path without the key, and with a wrong one', async () => {
    for (const [method, path] of [
      ['GET', '/'],
      ['GET', '/metrics'],
      ['GET', '/.well-known/status'],
      ['GET', '/nope'],
      ['GET', '/discoverd/services/controller/instances'],
      ['PUT', `/discoverd/services/x/instances/127.0.0.9:1`],
      ['GET', `/services/test-api/${SVC_ADDR}/anything`],
      ['GET', '/hosts/h1/host/jobs'],
    ] as const) {
      const r = await fetch(`${controller.url}${path}`, { method });
      expect(r.status, `${method} ${path}`).toBe(401);
      expect(await r.json()).toMatchObject({ code: 'unauthorized', retry: false });
    }
    const wrong = await fetch(`${controller.url}/discoverd/services/controller/instances`, {
      headers: { authorization: 'Bearer nope' },
    });
    expect(wrong.status).toBe(401);
    expect(seen).toEqual([]);
  });

  it('forwards discoverd reads and writes (a follower’s 307 followed to the leader, body and key re-sent)', async () => {
    // The follower the gateway asks first answers writes with a 307: the gateway must follow it.
    const direct = await fetch(`http://${follower}/kv/controller-test`, {
      method: 'PUT',
      redirect: 'manual',
      headers: keyed({ 'content-type': 'application/json' }),
      body: JSON.stringify({ value: 'direct' }),
    });
    expect(direct.status).toBe(307);
    const basic = `Basic ${Buffer.from(`:${KEY}`).toString('base64')}`;
    const put = await fetch(`${controller.url}/discoverd/kv/controller-test`, {
      method: 'PUT',
      headers: { authorization: basic, 'content-type': 'application/json' },
      body: JSON.stringify({ value: 'hello' }),
    });
    expect(put.status, await put.clone().text()).toBeLessThan(300);
    const get = await fetch(`${controller.url}/discoverd/kv/controller-test`, { headers: keyed() });
    expect(get.status).toBe(200);
    expect(((await get.json()) as { value: string }).value).toBe('hello');
    // Internal addresses stay inside.
    expect(get.headers.get('discoverd-peers')).toBeNull();
  });

  it('streams an SSE watch as events happen', async () => {
    const events: string[] = [];
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpRequest(`${controller.url}/discoverd/services/sse-test/instances`, {
        headers: keyed({ accept: 'text/event-stream' }),
      });
      req.on('response', resolve).on('error', reject).end();
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/event-stream/);
    res.setEncoding('utf8').on('data', (d: string) => events.push(d));
    await client.addService('sse-test').catch(() => undefined);
    const hb = await client.register('sse-test', '127.0.0.9:7');
    await waitFor(() => events.join('').includes('127.0.0.9:7'), {
      timeoutMs: 10_000,
      what: `the up event (got ${events.join('')})`,
    });
    res.destroy();
    await hb.close();
  });

  it('forwards to a registered instance only, with the key, streaming a large body through', async () => {
    const body = Buffer.alloc(8 * 1024 * 1024, 7);
    const r = await fetch(`${controller.url}/services/test-api/${SVC_ADDR}/upload?x=1`, {
      method: 'POST',
      headers: keyed({ 'content-type': 'application/octet-stream' }),
      body,
    });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ bytes: body.length });
    expect(seen.at(-1)).toMatchObject({ method: 'POST', url: '/upload?x=1', auth: `Bearer ${KEY}` });
    const other = await fetch(`${controller.url}/services/test-api/127.0.0.1:22/`, { headers: keyed() });
    expect(other.status).toBe(404);
    expect(await other.json()).toMatchObject({ code: 'not_found' });
    const self = await fetch(`${controller.url}/services/controller/${CTL_IP}:${BASE + 2}/metrics`, {
      headers: keyed(),
    });
    expect(self.status).toBe(404);
    const host = await fetch(`${controller.url}/hosts/no-such-host/host/jobs`, { headers: keyed() });
    expect(host.status).toBe(404);
  });

  it('passes a never-ending stream on line by line', async () => {
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      httpRequest(`${controller.url}/services/test-api/${SVC_ADDR}/stream`, { headers: keyed() })
        .on('response', resolve)
        .on('error', reject)
        .end();
    });
    const first = await new Promise<string>((resolve) => res.setEncoding('utf8').once('data', resolve));
    expect(first).toBe('{"n":1}\n');
    res.destroy();
  });

  it('serves /metrics with the key', async () => {
    const r = await fetch(`${controller.url}/metrics`, { headers: keyed() });
    expect(r.status).toBe(200);
    expect(await r.text()).toMatch(/flynn_controller_requests_total\{destination="none",status="401"\} \d+/);
  });
});
