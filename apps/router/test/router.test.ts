import { X509Certificate } from 'node:crypto';
import { connect as connectH2 } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { SseReader, waitFor } from '@flynn-edge/testkit';
import { generateSelfSigned } from '@flynn-edge/tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Answer, get, TestCluster } from './helpers.js';

// Two router processes (127.0.0.41 and .42) against a real discoverd, with real backends
// registered in it. Build first: the processes run the built dist/.

const cluster = new TestCluster({ routers: 2, workers: 1, clusterKey: 'router-test-key', firstHost: 41 });

beforeAll(async () => {
  await cluster.start();
}, 90_000);

afterAll(async () => {
  await cluster.close();
});

/** Polls until `host` answers 200 through router i. */
async function served(host: string, i: number, path = '/'): Promise<Answer> {
  return waitFor(
    async () => {
      const r = await get(`${cluster.httpUrl(i)}${path}`, host);
      return r.status === 200 && r;
    },
    { timeoutMs: 10_000, what: `${host} served by router ${i}` },
  );
}

function handshake(port: number, servername?: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect(
      { host: cluster.routers[0].opts.ip, port, servername, rejectUnauthorized: false },
      () => resolve(s),
    );
    s.once('error', reject);
  });
}

describe('router processes against a real discoverd', { timeout: 30_000 }, () => {
  it('serves a route written through either router on both, with the receiving host named', async () => {
    const b = await cluster.backend('web-a', (req, res) => {
      res.end(
        JSON.stringify({ host: req.headers['flynn-router-host'], xff: req.headers['x-forwarded-for'] }),
      );
    });
    const created = await cluster.api(
      'POST',
      '/routes',
      { type: 'http', service: 'web-a', domain: 'a.test' },
      1,
    );
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ type: 'http', service: 'web-a', domain: 'a.test', path: '/' });
    for (const i of [0, 1]) {
      await served('a.test', i);
      const r = await get(cluster.httpUrl(i), 'a.test', {
        'flynn-router-host': 'forged',
        'x-forwarded-for': '1.2.3.4',
      });
      const seen = JSON.parse(r.text);
      expect(seen.host).toBe(`host-${i + 1}`);
      expect(seen.xff).toBe(`1.2.3.4, 127.0.0.1`);
    }
    expect(b.requests).toBeGreaterThanOrEqual(2);
  });

  it('answers 404 for an unknown host and 503 when a route has no backends', async () => {
    const nf = await get(cluster.httpUrl(0), 'nowhere.test');
    expect(nf.status).toBe(404);
    expect(nf.text).toBe('Not Found\n');
    expect(
      (await cluster.api('POST', '/routes', { type: 'http', service: 'empty', domain: 'empty.test' })).status,
    ).toBe(200);
    const r = await waitFor(async () => {
      const x = await get(cluster.httpUrl(0), 'empty.test');
      return x.status === 503 && x;
    });
    expect(r.text).toBe('Service Unavailable\n');
  });

  it('lets exactly one of two concurrent conflicting creates win, through different routers', async () => {
    for (let n = 0; n < 15; n++) {
      const route = { type: 'http', service: 'race', domain: `race-${n}.test` };
      const [x, y] = await Promise.all([
        cluster.api('POST', '/routes', route, 0),
        cluster.api('POST', '/routes', route, 1),
      ]);
      expect([x.status, y.status].sort()).toEqual([200, 409]);
      const loser = x.status === 409 ? x : y;
      expect(loser.body).toMatchObject({ code: 'conflict', message: 'Duplicate route' });
    }
  });

  it('requires the cluster key on the route API', async () => {
    const r = await fetch(`${cluster.routers[0].apiUrl}/routes`);
    expect(r.status).toBe(401);
    expect(await r.json()).toMatchObject({ code: 'unauthorized' });
  });

  it('allocates the lowest never-used TCP port and splices bytes to the backend', async () => {
    await cluster.backend('tcp-svc', (_req, res) => res.end('via tcp'));
    const r = await cluster.api('POST', '/routes', { type: 'tcp', service: 'tcp-svc', port: 0 });
    expect(r.status).toBe(200);
    const port = r.body.port as number;
    expect(port).toBeGreaterThanOrEqual(cluster.base + 50);
    for (const ip of cluster.routers.map((r) => r.opts.ip)) {
      const text = await waitFor(async () => {
        const res = await fetch(`http://${ip}:${port}/`, { signal: AbortSignal.timeout(2000) });
        return res.status === 200 && (await res.text());
      });
      expect(text).toBe('via tcp');
    }
    // Deleted, its port is never handed out again.
    expect((await cluster.api('DELETE', `/routes/tcp/${r.body.id}`)).status).toBe(200);
    const again = await cluster.api('POST', '/routes', { type: 'tcp', service: 'tcp-svc', port: 0 });
    expect(again.body.port).toBe(port + 1);
    // The old port now closes new connections at once.
    await waitFor(
      () =>
        new Promise<boolean>((resolve) => {
          const s = netConnect(port, cluster.routers[0].opts.ip);
          s.on('error', () => resolve(true));
          s.on('close', () => resolve(true));
          s.setTimeout(1000, () => {
            s.destroy();
            resolve(false);
          });
        }),
    );
  });

  it('picks the certificate by SNI, the default without SNI, and refuses unknown names', async () => {
    await cluster.backend('secure', (req, res) => res.end(`proto=${req.headers['x-forwarded-proto']}`));
    const pair = generateSelfSigned({ names: ['secure.test'] });
    const r = await cluster.api('POST', '/routes', {
      type: 'http',
      service: 'secure',
      domain: 'secure.test',
      certificate: { cert: pair.certPem, key: pair.keyPem },
    });
    expect(r.status).toBe(200);
    const port = cluster.routers[0].opts.httpsPort;
    const want = new X509Certificate(pair.certPem).fingerprint256;
    // The certificate and the backend reach the router separately (the route's store watch, the
    // service's discoverd watch): poll until this router serves the route with both.
    const body = await waitFor(async () => {
      const s = await handshake(port, 'secure.test');
      if (s.getPeerX509Certificate()?.fingerprint256 !== want) {
        s.destroy();
        return false;
      }
      expect(s.getProtocol()).toMatch(/TLSv1\.[23]/);
      s.write('GET / HTTP/1.1\r\nHost: secure.test\r\nConnection: close\r\n\r\n');
      const out = await new Promise<string>((resolve) => {
        let text = '';
        s.on('data', (d) => {
          text += d;
        });
        s.on('end', () => resolve(text));
      });
      return /^HTTP\/1\.1 200/.test(out) ? out : false;
    });
    expect(body).toContain('proto=https');

    const noSni = await handshake(port);
    expect(noSni.getPeerX509Certificate()?.fingerprint256).not.toBe(want);
    noSni.destroy();
    await expect(handshake(port, 'unknown.test')).rejects.toThrow();

    // A bad certificate is refused at the API; the router keeps serving.
    const bad = await cluster.api('POST', '/routes', {
      type: 'http',
      service: 'secure',
      domain: 'bad.test',
      certificate: { cert: pair.certPem, key: generateSelfSigned({ names: ['x'] }).keyPem },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('validation_error');
    expect((await handshake(port, 'secure.test')).getPeerX509Certificate()?.fingerprint256).toBe(want);
  });

  it('speaks HTTP/2 over TLS when the client offers h2', async () => {
    await cluster.backend('h2-svc', (req, res) =>
      res.end(`h2 ok ${req.httpVersion} ${req.headers['x-forwarded-proto']}`),
    );
    expect(
      (await cluster.api('POST', '/routes', { type: 'http', service: 'h2-svc', domain: 'h2.test' })).status,
    ).toBe(200);
    await served('h2.test', 0);
    const port = cluster.routers[0].opts.httpsPort;
    const session = connectH2(`https://${cluster.routers[0].opts.ip}:${port}`, {
      servername: 'h2.test',
      rejectUnauthorized: false,
    });
    try {
      const body = await new Promise<string>((resolve, reject) => {
        const req = session.request({ ':path': '/', ':authority': 'h2.test' });
        let out = '';
        req.setEncoding('utf8');
        req.on('data', (d) => {
          out += d;
        });
        req.on('end', () => resolve(out));
        req.on('error', reject);
      });
      expect(session.alpnProtocol).toBe('h2');
      // Downgraded to HTTP/1.1 towards the backend, as Flynn's router does.
      expect(body).toBe('h2 ok 1.1 https');
    } finally {
      session.close();
    }
  });

  it('streams route events and exposes metrics aggregated from the workers', async () => {
    const key = cluster.routers[0].authHeaders();
    const events = new SseReader(`${cluster.routers[0].apiUrl}/events?types=set,remove`, key);
    await waitFor(() => events.status === 200);
    const r = await cluster.api('POST', '/routes', { type: 'http', service: 'web-a', domain: 'events.test' });
    await waitFor(() => events.messages.some((m) => JSON.parse(m.data).route?.id === r.body.id), {
      what: 'the set event',
    });
    await events.close();

    await served('a.test', 0);
    const text = await (await fetch(`${cluster.routers[0].apiUrl}/metrics`)).text();
    expect(text).toMatch(/flynn_router_requests_total\{[^}]*route="a\.test\/"[^}]*\} [1-9]/);
    expect(text).toContain('flynn_router_client_connections');
  });
});
