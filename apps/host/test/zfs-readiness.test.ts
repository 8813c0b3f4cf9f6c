import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@flynn-edge/testkit';
import { probeZfs, type ZfsFacts, zfsReadiness } from '@flynn-edge/zfs';
import { describe, expect, it } from 'vitest';

// What `npm start` says when volumes are off: the one thing that is missing, and how to fix it.

// Needs root, zfs-fuse installed and its daemon not running: then a process named zfs-fuse that is
// not one (a copy of sleep) must read as "running but not answering".
const here = await probeZfs();

const facts = (f: Partial<ZfsFacts>): ZfsFacts => ({ answers: false, root: true, installed: true, ...f });

describe('the ZFS readiness message', () => {
  it('names what is missing, case by case', () => {
    expect(zfsReadiness(facts({ answers: true }))).toEqual({ ready: true });
    expect(zfsReadiness(facts({ root: false }))).toMatchObject({
      missing: 'root',
      message: expect.stringMatching(/^volumes need root .*: run as root$/),
    });
    expect(zfsReadiness(facts({ root: false, installed: false })).message).toContain(
      'and zfs-fuse (apt-get install zfs-fuse)',
    );
    expect(zfsReadiness(facts({ installed: false }))).toMatchObject({
      missing: 'zfs-fuse',
      message: expect.stringMatching(/^zfs-fuse is not installed: apt-get install zfs-fuse, then start it/),
    });
    expect(zfsReadiness(facts({}))).toEqual({
      ready: false,
      missing: 'daemon',
      message:
        'zfs-fuse is installed but its daemon is not running: start it with `zfs-fuse --pidfile /run/zfs-fuse.pid`',
    });
    expect(zfsReadiness(facts({ pid: 42, error: 'connect: Connection refused' }))).toMatchObject({
      missing: 'answer',
      message: expect.stringMatching(
        /^zfs-fuse is running \(pid 42\) but does not answer `zpool list` \(connect: Connection refused\): restart it with `kill 42; zfs-fuse/,
      ),
    });
  });

  it('detects this machine as it is', async () => {
    const f = await probeZfs();
    expect(f.root).toBe(process.getuid?.() === 0);
    if (f.answers) expect(zfsReadiness(f).ready).toBe(true);
    else expect(f.error).toBeTruthy();
  });

  it.skipIf(here.answers || !here.root || !here.installed || here.pid !== undefined)(
    'tells a stopped daemon from one that does not answer (real processes)',
    async () => {
      expect(zfsReadiness(here)).toMatchObject({ missing: 'daemon' });
      const dir = mkdtempSync(join(tmpdir(), 'fake-zfs-fuse-'));
      copyFileSync('/bin/sleep', join(dir, 'zfs-fuse'));
      const fake = spawn(join(dir, 'zfs-fuse'), ['30'], { stdio: 'ignore' });
      try {
        const f = await waitFor(
          async () => {
            const p = await probeZfs();
            return p.pid !== undefined && p;
          },
          { timeoutMs: 10_000, what: 'the fake zfs-fuse process' },
        );
        expect(zfsReadiness(f)).toMatchObject({
          missing: 'answer',
          message: expect.stringContaining(`zfs-fuse is running (pid ${fake.pid}) but does not answer`),
        });
      } finally {
        fake.kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
