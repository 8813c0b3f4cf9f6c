// The anchor: etcd 3.4 from Debian as a 3-member cluster on 127.0.0.1–3, one process per member,
// each with its own data dir (fsync on, etcd's defaults), its client URL and its peer URL.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { request, sleep } from './lib.mjs';

/** Installs etcd-server from Debian when `etcd` is missing; returns { version, installed }. */
export function ensureEtcd(log) {
  let installed = false;
  const which = () => spawnSync('which', ['etcd'], { encoding: 'utf8' }).stdout.trim();
  if (!which()) {
    log('etcd is missing: apt-get install -y etcd-server');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    let r = spawnSync('apt-get', ['install', '-y', 'etcd-server'], { encoding: 'utf8', env });
    if (r.status !== 0) {
      spawnSync('apt-get', ['update'], { encoding: 'utf8', env });
      r = spawnSync('apt-get', ['install', '-y', 'etcd-server'], { encoding: 'utf8', env });
    }
    if (r.status !== 0) throw new Error(`apt-get install etcd-server failed:\n${r.stderr}`);
    if (!which()) throw new Error('etcd-server installed but no etcd on PATH');
    const pkg = execFileSync('dpkg-query', ['-W', 'etcd-server'], { encoding: 'utf8' }).trim();
    log(`installed ${pkg} from Debian (${which()})`);
    installed = true;
  }
  const version = execFileSync('etcd', ['--version'], { encoding: 'utf8' }).split('\n')[0];
  return { version: version.replace(/^etcd Version:\s*/, '').trim(), installed };
}

export class EtcdCluster {
  constructor({ dir, hosts, clientPort, peerPort }) {
    this.dir = dir;
    this.hosts = hosts;
    this.clientPort = clientPort;
    this.peerPort = peerPort;
    this.children = [];
    this.names = hosts.map((_, i) => `e${i + 1}`);
  }

  url(i, path = '') {
    return `http://${this.hosts[i]}:${this.clientPort}${path}`;
  }

  start() {
    const initial = this.hosts.map((h, i) => `${this.names[i]}=http://${h}:${this.peerPort}`).join(',');
    this.hosts.forEach((h, i) => {
      const data = join(this.dir, this.names[i]);
      mkdirSync(data, { recursive: true });
      const log = createWriteStream(join(this.dir, `${this.names[i]}.log`));
      const child = spawn(
        'etcd',
        [
          '--name',
          this.names[i],
          '--data-dir',
          data,
          '--listen-client-urls',
          `http://${h}:${this.clientPort}`,
          '--advertise-client-urls',
          `http://${h}:${this.clientPort}`,
          '--listen-peer-urls',
          `http://${h}:${this.peerPort}`,
          '--initial-advertise-peer-urls',
          `http://${h}:${this.peerPort}`,
          '--initial-cluster',
          initial,
          '--initial-cluster-state',
          'new',
          '--initial-cluster-token',
          `bench-${process.pid}`,
          '--logger',
          'zap',
          '--log-level',
          'warn',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      child.stdout.pipe(log, { end: false });
      child.stderr.pipe(log, { end: false });
      child.exited = new Promise((resolve) => child.once('exit', resolve));
      this.children.push(child);
    });
  }

  get pids() {
    return this.children.map((c) => c.pid);
  }

  /** Index of the member every member names as leader (POST /v3/maintenance/status). */
  async leader(timeoutMs = 20_000) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const st = await Promise.all(
        this.hosts.map(async (_, i) => {
          try {
            const r = await request('POST', this.url(i, '/v3/maintenance/status'), {
              body: '{}',
              timeoutMs: 1000,
            });
            return r.status === 200 ? JSON.parse(r.text) : undefined;
          } catch {
            return undefined;
          }
        }),
      );
      if (st.every((s) => s?.leader && s.leader !== '0' && s.leader === st[0].leader)) {
        const i = st.findIndex((s) => s.header.member_id === s.leader);
        if (i >= 0) return { index: i, version: st[i].version };
      }
      await sleep(100);
    }
    throw new Error('etcd: no agreed leader');
  }

  async close() {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await Promise.all(
      this.children.map((c) => (c.exitCode === null && c.signalCode === null ? c.exited : null)),
    );
  }
}
