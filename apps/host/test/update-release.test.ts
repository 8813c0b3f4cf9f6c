import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManagedProcess, nextPortBlock, waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseTarball, runInstaller } from '../../../test/src/ops-cluster.js';
import { repackRelease } from '../../../test/src/release-repack.js';

// PUT /host/releases/<version> on a daemon installed the way an operator installs one (the
// `npm run release` tarball through its install.sh into a scratch root): a tarball whose sha256
// is not the header's, or whose tree does not match its SHA256SUMS, is refused; a good one (this
// tree repacked as a later version) is unpacked beside the first while `current` stays. Only when
// a daemon of the new release has taken over (POST /host/update) do `current` and
// `flynn-host version` switch to it.

const IP = '127.0.0.188';
const KEY = 'release-test-key';
const API = nextPortBlock(2);
const dir = mkdtempSync(join(tmpdir(), 'host-release-'));
const root = join(dir, 'root');
const base = join(root, 'opt/flynn-edge');
const NEXT = '99.0.0-next';
let daemon: ManagedProcess | undefined;
let first: { tarball: string; version: string };

/** The daemon that took over (not our child: stopped by pid). */
let successor: number | undefined;

afterAll(async () => {
  await daemon?.kill('SIGTERM');
  await daemon?.close();
  if (successor) {
    try {
      process.kill(successor, 'SIGTERM');
      await waitFor(() => !existsSync(`/proc/${successor}`), { timeoutMs: 15_000 });
    } catch {}
  }
  rmSync(dir, { recursive: true, force: true });
}, 30_000);

const repack = (tarball: string, version: string, tamper = false) =>
  repackRelease(tarball, version, { dir, tamper });

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

async function put(
  version: string,
  file: string,
  sha = sha256(file),
): Promise<{ status: number; body: { message?: string; version?: string; path?: string } }> {
  const r = await fetch(`http://${IP}:${API}/host/releases/${version}`, {
    method: 'PUT',
    headers: {
      authorization: `Bearer ${KEY}`,
      'content-type': 'application/gzip',
      'flynn-release-sha256': sha,
    },
    body: readFileSync(file),
    signal: AbortSignal.timeout(120_000),
  });
  return {
    status: r.status,
    body: (await r.json()) as { message?: string; version?: string; path?: string },
  };
}

function installedVersion(): string {
  const r = spawnSync('sh', [join(root, 'usr/local/bin/flynn-host'), 'version'], {
    encoding: 'utf8',
    env: { ...process.env, NODE: process.execPath },
  });
  expect(r.stderr).toBe('');
  return r.stdout.trim();
}

describe('PUT /host/releases/<version>', () => {
  beforeAll(async () => {
    const made = await releaseTarball();
    first = made;
    runInstaller(made.installer, made.tarball, root, ['--no-systemd']);
    daemon = new ManagedProcess({
      name: 'flynn-host',
      command: 'sh',
      args: [
        join(root, 'usr/local/bin/flynn-host'),
        'daemon',
        '-external-ip',
        IP,
        '-api-port',
        String(API),
        '-state',
        join(root, 'var/lib/flynn'),
        '-log-dir',
        join(root, 'var/log/flynn'),
        '-no-volumes',
        '-cluster-key',
        KEY,
      ],
      env: {
        NODE: process.execPath,
        DISCOVERD: `127.0.0.1:${API + 1}`,
        FLYNN_HOST_CONFIG: join(dir, 'none.json'),
      },
      logFile: join(dir, 'daemon.out'),
    });
    writeFileSync(join(dir, 'none.json'), '{}\n');
    daemon.start();
    await waitFor(
      async () =>
        (await fetch(`http://${IP}:${API}/host/status`, { headers: { authorization: `Bearer ${KEY}` } })).ok,
      { timeoutMs: 30_000 },
    );
  }, 300_000);

  it('refuses a body whose sha256 is not the header, and a tree that fails its SHA256SUMS', async () => {
    const next = repack(first.tarball, NEXT);
    const wrong = await put(NEXT, next, 'a'.repeat(64));
    expect(wrong.status).toBe(400);
    expect(wrong.body.message).toMatch(
      /^the body's sha256 is [0-9a-f]{64}, not a{64} \(Flynn-Release-SHA256\)$/,
    );
    const tampered = await put(NEXT, repack(first.tarball, NEXT, true));
    expect(tampered.status).toBe(400);
    expect(tampered.body.message).toMatch(/^checksum mismatch in the release tree: .*packaging\/install\.sh/);
    const misnamed = await put('98.0.0', next);
    expect(misnamed.status).toBe(400);
    expect(readlinkSync(join(base, 'current'))).toBe(`releases/${first.version}`);
    expect(existsSync(join(base, `releases/${NEXT}`))).toBe(false);
    expect(installedVersion()).toBe(first.version);
  }, 120_000);

  it('unpacks a good release beside the first and self-checks it; current stays', async () => {
    const next = repack(first.tarball, NEXT);
    const ok = await put(NEXT, next);
    expect(ok).toEqual({ status: 200, body: { version: NEXT, path: join(base, `releases/${NEXT}`) } });
    expect(readlinkSync(join(base, 'current'))).toBe(`releases/${first.version}`);
    expect(existsSync(join(base, `releases/${first.version}/VERSION`))).toBe(true);
    expect(installedVersion()).toBe(first.version);
    // The same release again changes nothing.
    expect(await put(NEXT, next)).toEqual(ok);
    // No leftovers of the uploads.
    expect(readFileSync(join(base, `releases/${NEXT}/VERSION`), 'utf8')).toBe(`${NEXT}\n`);
    expect(
      spawnSync('sh', ['-c', `ls -A ${join(base, 'releases')} ${base}`], { encoding: 'utf8' })
        .stdout.split('\n')
        .filter((l) => l.startsWith('.')),
    ).toEqual([]);
  }, 120_000);

  it('switches current once a daemon of the new release has taken over', async () => {
    const r = await fetch(`http://${IP}:${API}/host/update`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ path: join(base, `releases/${NEXT}`) }),
      signal: AbortSignal.timeout(60_000),
    });
    const body = (await r.json()) as { pid: number; message?: string };
    expect(r.status, body.message).toBe(200);
    successor = body.pid;
    expect(await daemon?.wait()).toBe(0);
    const status = (await (
      await fetch(`http://${IP}:${API}/host/status`, { headers: { authorization: `Bearer ${KEY}` } })
    ).json()) as { version: string; pid: number };
    expect(status).toMatchObject({ version: NEXT, pid: successor });
    expect(readlinkSync(join(base, 'current'))).toBe(`releases/${NEXT}`);
    expect(installedVersion()).toBe(NEXT);
  }, 120_000);
});
