import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  addCluster,
  emptyCluster,
  formatConfig,
  parseConfig,
  readConfig,
  resolveTarget,
  saveConfig,
} from '../src/cluster-config.js';
import {
  certificatePin,
  configureOrigin,
  isPrivateAddress,
  PlainKeyError,
  request,
  TlsPinMismatchError,
} from '../src/discoverd-http.js';

// ~/.flynnrc as Flynn writes and reads it, the choice between the flynnrc cluster and DISCOVERD,
// and the transport rules of a remote cluster: the TLS pin checked before anything is sent, and
// no cluster key over plain HTTP to a public address.

const dir = mkdtempSync(join(tmpdir(), 'flynnrc-'));
const saved = {
  FLYNNRC: process.env.FLYNNRC,
  DISCOVERD: process.env.DISCOVERD,
  FLYNN_CLUSTER: process.env.FLYNN_CLUSTER,
};

afterEach(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A file as Flynn's CLI (BurntSushi/toml) writes it. */
const FLYNN_WRITTEN = `default = "prod"

[[cluster]]
  Name = "prod"
  Key = "e09dc5301d72be755a3d666f617c4600"
  TLSPin = "KGCENkp53YF5OvOKkZIry71+czFRkSw2ZdMszZ/0ljs="
  ControllerURL = "https://controller.prod.example.com"
  GitURL = "https://git.prod.example.com"
  ImageURL = ""
  DockerPushURL = ""

[[cluster]]
  Name = "dev"
  Key = "k2"
  ControllerURL = "https://controller.dev.localflynn.com"
  GitURL = ""
  ImageURL = ""
  DockerPushURL = ""

`;

describe('the flynnrc file', () => {
  it('reads what Flynn writes and writes it back byte for byte', () => {
    const c = parseConfig(FLYNN_WRITTEN);
    expect(c.default).toBe('prod');
    expect(c.clusters.map((x) => x.Name)).toEqual(['prod', 'dev']);
    expect(c.clusters[0]).toMatchObject({
      TLSPin: 'KGCENkp53YF5OvOKkZIry71+czFRkSw2ZdMszZ/0ljs=',
      Key: 'e09dc5301d72be755a3d666f617c4600',
    });
    expect(formatConfig(c)).toBe(FLYNN_WRITTEN);
  });

  it('keeps keys it does not know, reads comments, literal strings and escapes, and refuses what is not TOML', () => {
    const c = parseConfig(
      '# mine\ndefault = \'a\'\n[[cluster]]\nName = "a" # inline\nKey = "x\\"y\\u00e9"\nFuture = "kept"\n[other]\nz = "ignored"\n',
    );
    expect(c.clusters[0]).toMatchObject({ Name: 'a', Key: 'x"yé', extra: { Future: 'kept' } });
    expect(formatConfig(c)).toContain('  Future = "kept"\n');
    expect(parseConfig(formatConfig(c)).clusters[0]!.Key).toBe('x"yé');
    expect(() => parseConfig('default = 1\n')).toThrow(/:1: only string values/);
    expect(() => parseConfig('[[cluster]\n')).toThrow(/:1: bad table header/);
    expect(() => parseConfig('[[cluster]]\nName = "a\n')).toThrow(/:2: unterminated string/);
  });

  it("adds as Flynn's Config.Add: a clash of name or URL is refused unless forced", () => {
    const c = parseConfig(FLYNN_WRITTEN);
    const dup = { ...emptyCluster('prod'), ControllerURL: 'https://controller.other.com' };
    expect(() => addCluster(c, dup, false)).toThrow('Cluster "prod" already exists in ~/.flynnrc');
    const sameUrl = { ...emptyCluster('new'), ControllerURL: 'https://controller.dev.localflynn.com' };
    expect(() => addCluster(c, sameUrl, false)).toThrow(
      'A cluster with the URL "https://controller.dev.localflynn.com" already exists in ~/.flynnrc',
    );
    const both = { ...emptyCluster('prod'), ControllerURL: 'https://controller.dev.localflynn.com' };
    expect(() => addCluster(c, both, true)).toThrow('conflict with multiple existing clusters');
    addCluster(c, sameUrl, true);
    expect(c.clusters.map((x) => x.Name)).toEqual(['prod', 'new']);
  });

  it('is written with mode 0600 (it holds keys), and a missing file is an empty config', () => {
    const path = join(dir, 'mode-rc');
    expect(readConfig(path).clusters).toEqual([]);
    saveConfig(parseConfig(FLYNN_WRITTEN), path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toBe(FLYNN_WRITTEN);
  });
});

describe('resolveTarget', () => {
  it('uses the default cluster without DISCOVERD, the named one with -c or FLYNN_CLUSTER, DISCOVERD otherwise', async () => {
    const path = join(dir, 'target-rc');
    const c = parseConfig(FLYNN_WRITTEN);
    c.clusters[1]!.ControllerAddr = '127.0.0.1:8443';
    saveConfig(c, path);
    process.env.FLYNNRC = path;
    delete process.env.DISCOVERD;
    delete process.env.FLYNN_CLUSTER;

    const def = await resolveTarget({});
    expect(def).toMatchObject({
      remote: true,
      domain: 'prod.example.com',
      clusterKey: 'e09dc5301d72be755a3d666f617c4600',
      discoverd: ['https://controller.prod.example.com/discoverd'],
    });
    expect(def.hostUrl({ id: 'host 1', addr: '10.0.0.1:1113' })).toBe(
      'https://controller.prod.example.com/hosts/host%201',
    );
    expect(def.serviceUrl('router-api', '10.0.0.1:5000')).toBe(
      'https://controller.prod.example.com/services/router-api/10.0.0.1:5000',
    );

    expect((await resolveTarget({ cluster: 'dev' })).domain).toBe('dev.localflynn.com');
    process.env.FLYNN_CLUSTER = 'dev';
    expect((await resolveTarget({})).clusterKey).toBe('k2');
    await expect(resolveTarget({ cluster: 'nope' })).rejects.toThrow('unknown cluster "nope"');
    delete process.env.FLYNN_CLUSTER;

    process.env.DISCOVERD = '127.0.0.1:1111';
    const inside = await resolveTarget({ discoverd: ['http://127.0.0.1:1111'], clusterKey: 'inner' });
    expect(inside).toMatchObject({
      remote: false,
      clusterKey: 'inner',
      discoverd: ['http://127.0.0.1:1111'],
    });
    expect(inside.hostUrl({ id: 'h', addr: '10.0.0.1:1113' })).toBe('http://10.0.0.1:1113');
    // -c wins over DISCOVERD.
    expect((await resolveTarget({ cluster: 'prod', discoverd: ['http://127.0.0.1:1111'] })).remote).toBe(
      true,
    );
  });

  it('is direct when there is no flynnrc', async () => {
    process.env.FLYNNRC = join(dir, 'absent-rc');
    delete process.env.DISCOVERD;
    delete process.env.FLYNN_CLUSTER;
    expect(await resolveTarget({})).toMatchObject({ remote: false, discoverd: ['http://127.0.0.1:1111'] });
  });
});

describe('the key over plain HTTP', () => {
  it('knows private addresses', () => {
    for (const a of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.1.1',
      '100.64.0.1',
      '::1',
      'fd00::1',
      'fe80::1',
      '::ffff:10.0.0.1',
    ]) {
      expect(isPrivateAddress(a), a).toBe(true);
    }
    for (const a of ['8.8.8.8', '172.32.0.1', '198.18.0.1', '100.128.0.1', '2001:db8::1', '::ffff:8.8.8.8']) {
      expect(isPrivateAddress(a), a).toBe(false);
    }
  });

  it('refuses to send it to a public address, before connecting', async () => {
    const err = await request('GET', 'http://198.18.0.9:1/x', { clusterKey: 'k', timeoutMs: 500 }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(PlainKeyError);
    expect(err.message).toMatch(/^refusing to send the cluster key over plain http:\/\/ to 198\.18\.0\.9:1/);
  });
});

const openssl = spawnSync('openssl', ['version']).status === 0;

describe.skipIf(!openssl)('a pinned origin', () => {
  const received: string[] = [];
  let server: ReturnType<typeof createServer>;
  let pin = '';
  let port = 0;

  beforeAll(async () => {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '2',
        '-subj',
        '/CN=controller.pin.test',
        '-addext',
        'subjectAltName=DNS:controller.pin.test',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore' },
    );
    const der = Buffer.from(readFileSync(cert, 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64');
    pin = certificatePin(der);
    server = createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
      res.end(JSON.stringify({ host: req.headers.host, auth: req.headers.authorization }));
    });
    // Every byte a client sends after the handshake, whatever it is.
    server.on('secureConnection', (s) => s.on('data', (d: Buffer) => received.push(d.toString('latin1'))));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(() => server?.close());

  it('connects to the configured address with the name as SNI and Host when the pin matches', async () => {
    configureOrigin('https://controller.pin.test', { tlsPin: pin, connectAddr: `127.0.0.1:${port}` });
    const a = await request('GET', 'https://controller.pin.test/discoverd/x', { clusterKey: 'sekrit' });
    expect(a.status).toBe(200);
    expect(JSON.parse(a.text)).toEqual({ host: 'controller.pin.test', auth: 'Bearer sekrit' });
  });

  it('refuses a certificate that does not match, before sending a byte', async () => {
    received.length = 0;
    const want = Buffer.alloc(32, 1).toString('base64');
    configureOrigin('https://controller.pin.test', { tlsPin: want, connectAddr: `127.0.0.1:${port}` });
    const err = await request('GET', 'https://controller.pin.test/discoverd/x', {
      clusterKey: 'sekrit',
    }).catch((e) => e);
    expect(err).toBeInstanceOf(TlsPinMismatchError);
    expect(err.message).toBe(`TLS pin mismatch for controller.pin.test (got ${pin}, want ${want})`);
    await new Promise((r) => setTimeout(r, 50));
    expect(received.join('')).toBe('');
  });

  it('without a pin, checks the certificate against the CAs (a self-signed one fails)', async () => {
    configureOrigin('https://controller.pin.test', { connectAddr: `127.0.0.1:${port}` });
    const err = await request('GET', 'https://controller.pin.test/x', { clusterKey: 'sekrit' }).catch(
      (e) => e,
    );
    expect(err.message).toMatch(/self[- ]signed/i);
  });
});

describe('flynn cluster (the commands, in-process)', () => {
  it('add, list, default, remove as Flynn prints them', async () => {
    const { Command } = await import('commander');
    const { registerClusterCommands } = await import('../src/flynn/cluster.js');
    const path = join(dir, 'cmd-rc');
    process.env.FLYNNRC = path;
    const out: string[] = [];
    const err: string[] = [];
    const write = (sink: string[]) => (d: string | Uint8Array) => {
      sink.push(String(d));
      return true;
    };
    const run = async (...args: string[]) => {
      const program = new Command('flynn').exitOverride();
      registerClusterCommands(program);
      const o = process.stdout.write;
      const e = process.stderr.write;
      process.stdout.write = write(out) as typeof o;
      process.stderr.write = write(err) as typeof e;
      try {
        await program.parseAsync(args, { from: 'user' });
      } finally {
        process.stdout.write = o;
        process.stderr.write = e;
      }
    };
    await run('cluster', 'add', '-p', Buffer.alloc(32, 2).toString('base64'), 'one', 'one.test', 'k1');
    expect(err.pop()).toBe('Cluster "one" added and set as default.\n');
    await run('cluster', 'add', '--controller-addr', '127.0.0.9:8443', 'two', 'two.test', 'k2');
    expect(err.pop()).toBe('Cluster "two" added.\n');
    await expect(run('cluster', 'add', 'two', 'x.test', 'k')).rejects.toThrow('Cluster "two" already exists');
    await run('cluster');
    expect(out.pop()).toBe(
      `${[
        'NAME  CONTROLLER URL               GIT URL  DOCKER URL',
        'one   https://controller.one.test  (none)   (none)      (default)',
        'two   https://controller.two.test  (none)   (none)',
      ].join('\n')}\n`,
    );
    await run('cluster', 'default', 'two');
    expect(err.pop()).toBe('"two" is now the default cluster.\n');
    await run('cluster', 'default');
    expect(out.pop()).toBe('NAME  URL\ntwo   https://controller.two.test  (default)\n');
    await run('cluster', 'remove', 'two');
    expect(err.pop()).toBe('Cluster "two" removed and "one" is now the default cluster.\n');
    const file = readFileSync(path, 'utf8');
    expect(file).toContain('default = "one"');
    expect(file).not.toContain('two');
    writeFileSync(path, file);
  });
});
