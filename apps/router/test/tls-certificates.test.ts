import { execFile, execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect as connectH2 } from 'node:http2';
import { join } from 'node:path';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RouterProcess } from '../src/process.js';
import { TestCluster } from './helpers.js';

// Issue 11: a route's own certificate must be served whatever its key type, the TLS version, the
// ALPN protocol and the default certificate's key type. Two routers against one discoverd:
// 127.0.0.101 generates its default (ECDSA), 127.0.0.102 is given an RSA default (TLSCERT/TLSKEY).
// Certificates come from openssl as in the report (RSA 4096 keygen is slow: once per file).

const cluster = new TestCluster({ routers: 1, workers: 1, firstHost: 101 });

interface RouteCert {
  domain: string;
  cert: string;
  key: string;
  fingerprint: string;
  crtFile: string;
}

function opensslCert(name: string, newkey: string[]): RouteCert {
  const domain = `${name}.test`;
  const keyFile = join(cluster.dir, `${name}.key`);
  const crtFile = join(cluster.dir, `${name}.crt`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      ...newkey,
      '-nodes',
      '-days',
      '30',
      '-subj',
      `/CN=${domain}`,
      '-addext',
      `subjectAltName=DNS:${domain}`,
      '-keyout',
      keyFile,
      '-out',
      crtFile,
    ],
    { stdio: 'ignore' },
  );
  const cert = readFileSync(crtFile, 'utf8');
  return {
    domain,
    cert,
    key: readFileSync(keyFile, 'utf8'),
    fingerprint: new X509Certificate(cert).fingerprint256,
    crtFile,
  };
}

const certs: RouteCert[] = [];
let defaultRsa: RouteCert;

beforeAll(async () => {
  certs.push(
    opensslCert('rsa2048', ['-newkey', 'rsa:2048']),
    opensslCert('rsa4096', ['-newkey', 'rsa:4096']),
    opensslCert('ec256', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']),
  );
  defaultRsa = opensslCert('default-rsa', ['-newkey', 'rsa:2048']);
  const first = cluster.routers[0].opts;
  cluster.routers.push(
    new RouterProcess({
      ...first,
      ip: '127.0.0.102',
      hostName: 'host-2',
      env: { TLSCERT: defaultRsa.cert, TLSKEY: defaultRsa.key },
      logFile: join(cluster.dir, 'router-2.log'),
    }),
  );
  await cluster.start();
  await cluster.backend('tls-backend', (req, res) => {
    res.end(`backend ${req.headers.host} ${req.headers['x-forwarded-proto']}`);
  });
  for (const c of certs) {
    const r = await cluster.api('POST', '/routes', {
      type: 'http',
      service: 'tls-backend',
      domain: c.domain,
      certificate: { cert: c.cert, key: c.key },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  }
}, 120_000);

afterAll(async () => {
  await cluster.close();
}, 30_000);

type Version = 'TLSv1.2' | 'TLSv1.3';

function connect(router: number, servername: string, version: Version, alpn: string): Promise<TLSSocket> {
  const { ip, httpsPort } = cluster.routers[router].opts;
  return new Promise((resolve, reject) => {
    const s = tlsConnect(
      {
        host: ip,
        port: httpsPort,
        servername,
        minVersion: version,
        maxVersion: version,
        ALPNProtocols: [alpn],
        rejectUnauthorized: false,
      },
      () => resolve(s),
    );
    s.once('error', reject);
    s.setTimeout(10_000, () => s.destroy(new Error('handshake timeout')));
  });
}

function http1Get(s: TLSSocket, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      out += d;
    });
    s.on('end', () => resolve(out));
    s.on('error', reject);
    s.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  });
}

function h2Get(s: TLSSocket, host: string): Promise<string> {
  const session = connectH2(`https://${host}`, { createConnection: () => s });
  return new Promise<string>((resolve, reject) => {
    session.on('error', reject);
    const req = session.request({ ':path': '/', ':authority': host });
    let out = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => {
      out += d;
    });
    req.on('end', () => resolve(out));
    req.on('error', reject);
  }).finally(() => session.close());
}

/** The leaf `openssl s_client` was given, whether it verified against the route's cert, and the answer. */
function sClient(router: number, c: RouteCert, version: '-tls1_2' | '-tls1_3') {
  const { ip, httpsPort } = cluster.routers[router].opts;
  return new Promise<{ fingerprint?: string; verified: boolean; protocol?: string; out: string }>(
    (resolve, reject) => {
      const child = execFile(
        'openssl',
        [
          's_client',
          '-connect',
          `${ip}:${httpsPort}`,
          '-servername',
          c.domain,
          version,
          '-alpn',
          'http/1.1',
          '-CAfile',
          c.crtFile,
          '-verify_hostname',
          c.domain,
          '-ign_eof',
        ],
        { timeout: 15_000 },
        (err, stdout) => {
          if (err && !stdout) return reject(err);
          const pem = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(stdout)?.[0];
          resolve({
            fingerprint: pem ? new X509Certificate(pem).fingerprint256 : undefined,
            verified: /Verify return code: 0 \(ok\)/.test(stdout),
            protocol: /Protocol\s*:\s*(TLSv1\.[23])/.exec(stdout)?.[1],
            out: stdout,
          });
        },
      );
      child.stdin?.end(`GET / HTTP/1.1\r\nHost: ${c.domain}\r\nConnection: close\r\n\r\n`);
    },
  );
}

const routers = [
  { i: 0, what: 'a generated ECDSA default' },
  { i: 1, what: 'a configured RSA default' },
];

describe('route certificates over TLS through a real router', { timeout: 60_000 }, () => {
  for (const { i, what } of routers) {
    describe(`router with ${what}`, () => {
      it('has loaded the routes', async () => {
        // The route table reaches the worker through the store watch.
        await waitFor(
          async () => {
            const s = await connect(i, certs[0].domain, 'TLSv1.2', 'http/1.1').catch(() => undefined);
            s?.destroy();
            return s !== undefined;
          },
          { timeoutMs: 15_000, what: `router ${i} serving ${certs[0].domain}` },
        );
      });

      for (const name of ['rsa2048', 'rsa4096', 'ec256']) {
        for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
          for (const alpn of ['http/1.1', 'h2']) {
            it(`serves the ${name} route certificate over ${version} with ${alpn}`, async () => {
              const c = certs.find((x) => x.domain === `${name}.test`)!;
              const s = await connect(i, c.domain, version, alpn);
              const peer = s.getPeerX509Certificate();
              expect(peer?.subject).toBe(`CN=${c.domain}`);
              expect(peer?.fingerprint256).toBe(c.fingerprint);
              expect(s.getProtocol()).toBe(version);
              expect(s.alpnProtocol).toBe(alpn);
              if (alpn === 'h2') {
                expect(await h2Get(s, c.domain)).toBe(`backend ${c.domain} https`);
              } else {
                const answer = await http1Get(s, c.domain);
                expect(answer).toMatch(/^HTTP\/1\.1 200/);
                expect(answer).toContain(`backend ${c.domain} https`);
              }
            });
          }
          it(`openssl s_client gets and verifies the ${name} certificate over ${version}`, async () => {
            const c = certs.find((x) => x.domain === `${name}.test`)!;
            const r = await sClient(i, c, version === 'TLSv1.2' ? '-tls1_2' : '-tls1_3');
            expect(r.protocol, r.out).toBe(version);
            expect(r.fingerprint, r.out).toBe(c.fingerprint);
            expect(r.verified, r.out).toBe(true);
            expect(r.out).toContain(`backend ${c.domain} https`);
          });
        }
      }

      it('gives the default certificate to a client without SNI, on both versions', async () => {
        const { ip, httpsPort } = cluster.routers[i].opts;
        for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
          const s = await new Promise<TLSSocket>((resolve, reject) => {
            const sock = tlsConnect(
              {
                host: ip,
                port: httpsPort,
                minVersion: version,
                maxVersion: version,
                rejectUnauthorized: false,
              },
              () => resolve(sock),
            );
            sock.once('error', reject);
          });
          const fp = s.getPeerX509Certificate()?.fingerprint256;
          expect(await http1Get(s, certs[0].domain)).toContain(`backend ${certs[0].domain} https`);
          if (i === 1) expect(fp).toBe(defaultRsa.fingerprint);
          expect(certs.map((c) => c.fingerprint)).not.toContain(fp);
        }
      });

      it('refuses a handshake for a name without a route', async () => {
        await expect(connect(i, 'unrouted.test', 'TLSv1.3', 'http/1.1')).rejects.toThrow();
      });
    });
  }
});
