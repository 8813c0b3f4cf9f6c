import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { ManagedProcess, waitFor } from '@flynn-edge/process-kit';
import { generateSelfSigned } from '@flynn-edge/tls';

// Pebble (Let's Encrypt's ACME test server) and pebble-challtestsrv (its test DNS) as child
// processes, for the issuer's tests and the cluster scenarios (`@flynn-edge/acme/testing`).
// Pebble dials http-01 on `httpPort` of the address the test DNS gives the domain: point it at a
// router with addA(). Unknown names get no address (pebble then fails the authorization).

export interface PebbleOptions {
  /** Where pebble listens (ACME on `acmePort`, management on `managementPort`). */
  ip: string;
  acmePort: number;
  managementPort: number;
  /** The port pebble dials for http-01 (a router's HTTP port). */
  httpPort: number;
  /** The test DNS (and its management API) listen here. */
  dnsIp: string;
  dnsPort: number;
  dnsManagementPort: number;
  dir: string;
  env?: Record<string, string>;
}

export class PebbleServer {
  readonly pebble: ManagedProcess;
  readonly challtestsrv: ManagedProcess;
  /** PEM of the certificate pebble serves (self-signed): ACME_CA_FILE. */
  readonly caFile: string;
  readonly directoryUrl: string;
  private readonly caPem: string;

  constructor(readonly opts: PebbleOptions) {
    mkdirSync(opts.dir, { recursive: true });
    this.caFile = join(opts.dir, 'pebble-tls.pem');
    const keyFile = join(opts.dir, 'pebble-tls.key');
    const pair = generateSelfSigned({ names: [opts.ip, 'localhost'], days: 2 });
    writeFileSync(this.caFile, pair.certPem);
    writeFileSync(keyFile, pair.keyPem);
    this.caPem = pair.certPem;
    const config = join(opts.dir, 'pebble-config.json');
    writeFileSync(
      config,
      JSON.stringify({
        pebble: {
          listenAddress: `${opts.ip}:${opts.acmePort}`,
          managementListenAddress: `${opts.ip}:${opts.managementPort}`,
          certificate: this.caFile,
          privateKey: keyFile,
          httpPort: opts.httpPort,
          tlsPort: 1,
          ocspResponderURL: '',
          externalAccountBindingRequired: false,
        },
      }),
    );
    this.directoryUrl = `https://${opts.ip}:${opts.acmePort}/dir`;
    this.challtestsrv = new ManagedProcess({
      name: 'pebble-challtestsrv',
      command: 'pebble-challtestsrv',
      args: [
        '-management',
        `${opts.dnsIp}:${opts.dnsManagementPort}`,
        '-dns01',
        `${opts.dnsIp}:${opts.dnsPort}`,
        '-http01',
        '',
        '-https01',
        '',
        '-tlsalpn01',
        '',
        '-defaultIPv4',
        '',
        '-defaultIPv6',
        '',
      ],
      logFile: join(opts.dir, 'challtestsrv.log'),
    });
    this.pebble = new ManagedProcess({
      name: 'pebble',
      command: 'pebble',
      args: ['-config', config, '-dnsserver', `${opts.dnsIp}:${opts.dnsPort}`],
      env: { PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', ...opts.env },
      logFile: join(opts.dir, 'pebble.log'),
    });
  }

  async start(): Promise<void> {
    this.challtestsrv.start();
    this.pebble.start();
    await waitFor(() => this.get(this.directoryUrl).then(() => true), { timeoutMs: 20_000, what: 'pebble' });
    await waitFor(() => this.dns('/clear-a', { host: 'probe.invalid.' }).then(() => true), {
      timeoutMs: 20_000,
      what: 'pebble-challtestsrv',
    });
  }

  /** The test DNS answers `host` with `ip` (A record). */
  async addA(host: string, ip: string): Promise<void> {
    await this.dns('/add-a', { host: host.endsWith('.') ? host : `${host}.`, addresses: [ip] });
  }

  async clearA(host: string): Promise<void> {
    await this.dns('/clear-a', { host: host.endsWith('.') ? host : `${host}.` });
  }

  /** The root that pebble's issued chains lead to (generated at each pebble start). */
  rootPem(): Promise<string> {
    return this.get(`https://${this.opts.ip}:${this.opts.managementPort}/roots/0`);
  }

  private async dns(path: string, body: object): Promise<void> {
    const r = await fetch(`http://${this.opts.dnsIp}:${this.opts.dnsManagementPort}${path}`, {
      method: 'POST',
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(5000),
    });
    if (!r.ok) throw new Error(`challtestsrv ${path}: ${r.status}`);
  }

  private get(url: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = request(url, { ca: this.caPem, timeout: 5000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () =>
          res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: ${res.statusCode}`)),
        );
      });
      req.on('timeout', () => req.destroy(new Error(`${url}: timeout`)));
      req.on('error', reject);
      req.end();
    });
  }

  async close(): Promise<void> {
    await Promise.all([this.pebble.kill('SIGTERM'), this.challtestsrv.kill('SIGTERM')]);
  }
}
