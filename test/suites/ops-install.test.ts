import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, ManagedProcess, requireCommand, waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseTarball, runInstaller } from '../src/ops-cluster.js';

// The release an operator installs: `npm run release` makes a tarball that runs with nothing but
// node, install.sh puts it in place (twice changes nothing, host.json is never touched, a tarball
// that fails its checksums is refused), and the installed commands and daemon run from the
// installed tree: every module the daemon loads is under the install root, none from the source.

const TRACE = fileURLToPath(new URL('../fixtures/trace-modules.mjs', import.meta.url));
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'ops-install-'));
const root = join(dir, 'root');
let release: Awaited<ReturnType<typeof releaseTarball>>;
const procs: ManagedProcess[] = [];

/** Every path under `root` with its mode, size, mtime and link target. */
function snapshot(at: string): string {
  const r = spawnSync('find', [at, '-printf', '%P %m %s %T@ %l\\n'], { encoding: 'utf8' });
  return r.stdout.split('\n').sort().join('\n');
}

function listing(tarball: string): string[] {
  return spawnSync('tar', ['-tzf', tarball], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout.split('\n');
}

beforeAll(async () => {
  release = await releaseTarball();
}, 240_000);

afterAll(async () => {
  for (const p of procs) await p.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('npm run release', () => {
  it('makes flynn-edge-<version>.tar.gz with the built tree and production dependencies only', () => {
    const version = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version ?? '0.0.0';
    expect(release.version).toMatch(new RegExp(`^${version.replace(/\./g, '\\.')}-[0-9a-f]{7,}$`));
    const top = `flynn-edge-${release.version}`;
    const files = listing(release.tarball);
    for (const f of [
      'VERSION',
      'SHA256SUMS',
      'package.json',
      'packaging/install.sh',
      'packaging/flynn-host.service',
      'apps/cli/bin/flynn-host.js',
      'apps/cli/dist/main.js',
      'apps/discoverd/bin/discoverd.js',
      'apps/router/bin/router.js',
      'node_modules/fastify/package.json',
      'node_modules/commander/package.json',
    ]) {
      expect(files, f).toContain(`${top}/${f}`);
    }
    const ours = new RegExp(
      `^${top}/(apps|packages)/[^/]+/(src|test)/|^${top}/(apps|packages)/.*(?<!\\.d)\\.ts$`,
    );
    const notShipped = new RegExp(
      `^${top}/(bench|test|packages/testkit)/|^${top}/node_modules/(vitest|typescript|turbo|@biomejs|playwright-core|@flynn-edge/testkit)/`,
    );
    const bad = files.filter((f) => ours.test(f) || notShipped.test(f));
    expect(bad).toEqual([]);
  });
});

describe('install.sh', () => {
  it('installs under --root: the release, current, the wrappers, the unit and the folders', () => {
    const out = runInstaller(release.installer, release.tarball, root, ['--no-systemd']);
    expect(out).toContain(`flynn-edge ${release.version} installed`);
    const rel = join(root, 'opt/flynn-edge/releases', release.version);
    expect(readFileSync(join(rel, 'VERSION'), 'utf8')).toBe(`${release.version}\n`);
    expect(
      spawnSync('readlink', [join(root, 'opt/flynn-edge/current')], { encoding: 'utf8' }).stdout.trim(),
    ).toBe(`releases/${release.version}`);
    expect(readFileSync(join(root, 'usr/local/bin/flynn-host'), 'utf8')).toContain(
      `${root}/opt/flynn-edge/current/apps/cli/bin/flynn-host.js`,
    );
    const unit = readFileSync(join(root, 'lib/systemd/system/flynn-host.service'), 'utf8');
    expect(unit).toContain(`ExecStart=${root}/usr/local/bin/flynn-host daemon`);
    for (const line of ['Type=simple', 'Restart=on-failure', 'KillMode=process', 'LimitNOFILE=65536']) {
      expect(unit).toContain(line);
    }
    const r = spawnSync('stat', ['-c', '%a %n', 'etc/flynn', 'var/lib/flynn', 'var/log/flynn'], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(r.stdout.trim().split('\n')).toEqual(['755 etc/flynn', '700 var/lib/flynn', '755 var/log/flynn']);
  });

  it('changes nothing the second time, and never touches host.json', () => {
    const hostJson = join(root, 'etc/flynn/host.json');
    writeFileSync(hostJson, '{\n\t"args": ["--external-ip", "10.0.0.1"]\n}\n', { mode: 0o600 });
    const before = snapshot(root);
    const out = runInstaller(release.installer, release.tarball, root, ['--no-systemd']);
    expect(out.trim()).toBe(`flynn-edge ${release.version} already installed; nothing changed`);
    expect(snapshot(root)).toBe(before);
    expect(readFileSync(hostJson, 'utf8')).toContain('10.0.0.1');
  });

  it('passes systemd-analyze verify', () => {
    if (!requireCommand('systemd-analyze', 'systemd').available) return;
    const other = join(dir, 'verified');
    // Without --no-systemd and under --root, install.sh checks the unit it wrote.
    const out = runInstaller(release.installer, release.tarball, other);
    expect(out).toContain('installed');
    const r = spawnSync('systemd-analyze', ['verify', join(other, 'lib/systemd/system/flynn-host.service')], {
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
  });

  it('refuses a tarball whose files do not match SHA256SUMS, leaving nothing behind', () => {
    const work = join(dir, 'tampered');
    const top = `flynn-edge-${release.version}`;
    spawnSync('mkdir', ['-p', work]);
    expect(spawnSync('tar', ['-xzf', release.tarball, '-C', work]).status).toBe(0);
    writeFileSync(join(work, top, 'apps/cli/bin/flynn-host.js'), '#!/usr/bin/env node\n// not ours\n');
    const bad = join(dir, `${top}.tar.gz`);
    expect(spawnSync('tar', ['-czf', bad, '-C', work, top]).status).toBe(0);
    const other = join(dir, 'refused');
    const r = spawnSync('sh', [release.installer, '--root', other, '--no-systemd', bad], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('checksum mismatch');
    expect(spawnSync('ls', ['-A', join(other, 'opt/flynn-edge/releases')], { encoding: 'utf8' }).stdout).toBe(
      '',
    );
  });

  it('switches current to a newer release and back, keeping both trees', () => {
    const work = join(dir, 'newer');
    const next = 'flynn-edge-99.0.0-test';
    // The same tree under another version, its SHA256SUMS made again as release.mjs does.
    const script = `set -e; mkdir -p "$W"; tar -xzf "$T" -C "$W"; cd "$W"; mv flynn-edge-* ${next}; cd ${next};
      echo 99.0.0-test > VERSION; find . -type f ! -name SHA256SUMS -print0 | sort -z | xargs -0 sha256sum > SHA256SUMS;
      cd ..; tar -czf ../${next}.tar.gz ${next}`;
    const r = spawnSync('sh', ['-c', script], {
      env: { ...process.env, W: work, T: release.tarball },
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    const current = () =>
      spawnSync('readlink', [join(root, 'opt/flynn-edge/current')], { encoding: 'utf8' }).stdout.trim();
    expect(runInstaller(release.installer, join(dir, `${next}.tar.gz`), root, ['--no-systemd'])).toContain(
      'current -> releases/99.0.0-test',
    );
    expect(current()).toBe('releases/99.0.0-test');
    const v = spawnSync(join(root, 'usr/local/bin/flynn-host'), ['version'], { encoding: 'utf8' });
    expect(v.stdout.trim()).toBe('99.0.0-test');
    const back = runInstaller(release.installer, release.tarball, root, ['--no-systemd']);
    expect(back).toContain(`current -> releases/${release.version}`);
    expect(back).not.toContain('unpacked');
    expect(current()).toBe(`releases/${release.version}`);
    expect(readdirSync(join(root, 'opt/flynn-edge/releases')).sort()).toEqual(
      ['99.0.0-test', release.version].sort(),
    );
  });

  it('exits 2 on bad usage', () => {
    const r = spawnSync('sh', [release.installer, '--bogus'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('usage: install.sh [--root DIR] [--no-systemd] TARBALL');
  });
});

describe('the installed commands', () => {
  it('flynn-host --help runs from the installed tree', () => {
    const r = spawnSync(join(root, 'usr/local/bin/flynn-host'), ['--help'], { cwd: '/', encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('Usage: flynn-host');
    const v = spawnSync(join(root, 'usr/local/bin/flynn'), ['--help'], { cwd: '/', encoding: 'utf8' });
    expect(v.status, v.stderr).toBe(0);
  });

  it('the daemon serves from the installed tree and loads no module from the source tree', async () => {
    const port = await freePort();
    const out = join(dir, 'modules.txt');
    const p = new ManagedProcess({
      name: 'installed-daemon',
      command: join(root, 'usr/local/bin/flynn-host'),
      args: [
        'daemon',
        '-id',
        'h1',
        '-external-ip',
        '127.0.0.1',
        '-api-port',
        String(port),
        '-state',
        join(root, 'var/lib/flynn'),
        '-log-dir',
        join(root, 'var/log/flynn'),
        '-no-volumes',
      ],
      cwd: '/',
      env: {
        FLYNN_HOST_CONFIG: join(dir, 'empty-host.json'),
        NODE_OPTIONS: `--import ${TRACE}`,
        TRACE_MODULES_OUT: out,
      },
      logFile: join(dir, 'daemon.out'),
    });
    writeFileSync(join(dir, 'empty-host.json'), '{}\n');
    procs.push(p);
    p.start();
    const status = await waitFor(
      async () => {
        const res = await fetch(`http://127.0.0.1:${port}/host/status`).catch(() => null);
        return res?.status === 200 ? ((await res.json()) as { id: string; log_dir: string }) : false;
      },
      { timeoutMs: 20_000, what: 'the installed daemon answering /host/status' },
    );
    expect(status.id).toBe('h1');
    expect(status.log_dir).toBe(join(root, 'var/log/flynn'));
    // The wrapper execs node on the installed flynn-host.js: the daemon's own command line says so.
    const cmdline = readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').split('\0');
    expect(cmdline).toContain(join(root, 'opt/flynn-edge/current/apps/cli/bin/flynn-host.js'));
    const loaded = readFileSync(out, 'utf8')
      .split('\n')
      .filter((u) => u.startsWith('file:'))
      .map((u) => fileURLToPath(u));
    expect(loaded.length).toBeGreaterThan(20);
    expect(loaded.filter((f) => f !== TRACE && !f.startsWith(`${root}/`))).toEqual([]);
    expect(loaded.some((f) => f.includes('/node_modules/fastify/'))).toBe(true);
    p.signal('SIGTERM');
    expect(await p.wait()).toBe(0);
  });
});
