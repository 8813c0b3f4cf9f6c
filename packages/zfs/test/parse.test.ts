import { describe, expect, it } from 'vitest';
import {
  flattenVdevs,
  isResilvering,
  parseColumns,
  parsePoolStatus,
  parseRows,
  parseSize,
} from '../src/index.js';

// Both dialects of `zpool status`: zfs-fuse prints `scrub:`, OpenZFS prints `scan:`.

const FUSE_RESILVERING = `  pool: tank
 state: ONLINE
 scrub: resilver in progress for 0h0m, 42.50% done, 0h1m to go
config:

\tNAME                  STATE     READ WRITE CKSUM
\ttank                  ONLINE       0     0     0
\t  mirror-0            ONLINE       0     0     0
\t    /tmp/zexp/a.vdev  ONLINE       0     0     0
\t    /tmp/zexp/c.vdev  ONLINE       0     0     0  12.1M resilvered

errors: No known data errors
`;

const FUSE_DONE = `  pool: zt1
 state: ONLINE
 scrub: resilver completed after 0h0m with 0 errors on Sat Nov 28 17:59:23 2026
config:

\tNAME                  STATE     READ WRITE CKSUM
\tzt1                   ONLINE       0     0     0
\t  mirror-0            ONLINE       0     0     0
\t    /tmp/zexp/a.vdev  ONLINE       0     0     0
\t    /tmp/zexp/c.vdev  ONLINE       0     0     0  31.4M resilvered

errors: No known data errors
`;

const FUSE_NONE = `  pool: zt1
 state: ONLINE
 scrub: none requested
config:

\tNAME                STATE     READ WRITE CKSUM
\tzt1                 ONLINE       0     0     0
\t  /tmp/zexp/a.vdev  ONLINE       0     0     0

errors: No known data errors
`;

const OPENZFS_RESILVERING = `  pool: flynn-default
 state: DEGRADED
status: One or more devices is currently being resilvered.  The pool will
\tcontinue to function, possibly in a degraded state.
action: Wait for the resilver to complete.
  scan: resilver in progress since Sat Nov 28 18:00:00 2026
\t1.21G scanned at 123M/s, 512M issued at 51.2M/s, 1.21G total
\t510M resilvered, 41.32% done, 00:00:14 to go
config:

\tNAME                                STATE     READ WRITE CKSUM
\tflynn-default                       DEGRADED     0     0     0
\t  mirror-0                          DEGRADED     0     0     0
\t    /var/lib/flynn/volumes/zfs/vdev/flynn-default-zpool.vdev  ONLINE  0  0  0
\t    /dev/sdb                        UNAVAIL      0     0     0  (resilvering)
\tlogs
\t  /dev/sdc                          ONLINE       0     0     0
\tspares
\t  /dev/sdd                          AVAIL

errors: No known data errors
`;

const OPENZFS_DONE = `  pool: flynn-default
 state: ONLINE
  scan: resilvered 31.4M in 00:00:01 with 0 errors on Sat Nov 28 18:01:00 2026
config:

\tNAME          STATE     READ WRITE CKSUM
\tflynn-default ONLINE       0     0     0
\t  mirror-0    ONLINE       0     0     0
\t    /tmp/a    ONLINE       0     0     0
\t    /tmp/c    ONLINE       0     0     0

errors: No known data errors
`;

describe('parsePoolStatus', () => {
  it('reads a zfs-fuse resilver in progress (scrub: …)', () => {
    const s = parsePoolStatus(FUSE_RESILVERING);
    expect(s.name).toBe('tank');
    expect(s.state).toBe('ONLINE');
    expect(s.scan).toMatchObject({ kind: 'resilver', state: 'in_progress', percentDone: 42.5 });
    expect(isResilvering(s)).toBe(true);
    expect(s.config?.children[0].name).toBe('mirror-0');
    expect(s.config?.children[0].children.map((v) => v.name)).toEqual([
      '/tmp/zexp/a.vdev',
      '/tmp/zexp/c.vdev',
    ]);
    expect(s.config?.children[0].children[1].note).toBe('12.1M resilvered');
    expect(s.errors).toBe('No known data errors');
  });

  it('reads a finished zfs-fuse resilver and a pool never scanned', () => {
    const done = parsePoolStatus(FUSE_DONE);
    expect(done.scan).toMatchObject({ kind: 'resilver', state: 'completed' });
    expect(isResilvering(done)).toBe(false);
    const none = parsePoolStatus(FUSE_NONE);
    expect(none.scan).toMatchObject({ kind: 'none', state: 'none' });
    expect(none.config?.children.map((v) => v.name)).toEqual(['/tmp/zexp/a.vdev']);
  });

  it('reads an OpenZFS resilver (scan: …) with continuation lines and extra sections', () => {
    const s = parsePoolStatus(OPENZFS_RESILVERING);
    expect(s.state).toBe('DEGRADED');
    expect(s.scan).toMatchObject({ kind: 'resilver', state: 'in_progress', percentDone: 41.32 });
    expect(s.fields.status).toMatch(/^One or more devices .* degraded state\.$/);
    expect(s.fields.action).toBe('Wait for the resilver to complete.');
    const mirror = s.config!.children[0];
    expect(mirror.state).toBe('DEGRADED');
    expect(mirror.children[1]).toMatchObject({ name: '/dev/sdb', state: 'UNAVAIL', note: '(resilvering)' });
    expect(s.sections.logs.map((v) => v.name)).toEqual(['/dev/sdc']);
    expect(s.sections.spares).toEqual([{ name: '/dev/sdd', state: 'AVAIL', children: [] }]);
    expect(isResilvering(s)).toBe(true);
    expect(flattenVdevs(s.config).map((v) => v.name)).toEqual([
      'flynn-default',
      'mirror-0',
      '/var/lib/flynn/volumes/zfs/vdev/flynn-default-zpool.vdev',
      '/dev/sdb',
    ]);
  });

  it('reads a finished OpenZFS resilver', () => {
    const s = parsePoolStatus(OPENZFS_DONE);
    expect(s.scan).toMatchObject({ kind: 'resilver', state: 'completed' });
    expect(isResilvering(s)).toBe(false);
  });

  it('marks a vdev "(resilvering)" as a resilver even without a scan line', () => {
    const text = OPENZFS_DONE.replace(/ {2}scan: .*\n/, '').replace(
      '/tmp/c    ONLINE       0     0     0',
      '/tmp/c    ONLINE       0     0     0  (resilvering)',
    );
    expect(isResilvering(parsePoolStatus(text))).toBe(true);
  });
});

describe('column output', () => {
  it('splits -H rows on tabs, keeping empty and spaced values', () => {
    expect(parseColumns('a\tb c\t\nd\te\tf\n')).toEqual([
      ['a', 'b c', ''],
      ['d', 'e', 'f'],
    ]);
    expect(
      parseRows('p/x\t112K\t217M\t/mnt/x y\n', ['name', 'used', 'avail', 'mountpoint'] as const),
    ).toEqual([{ name: 'p/x', used: '112K', avail: '217M', mountpoint: '/mnt/x y' }]);
  });

  it('parses exact and human sizes (zfs-fuse has no -p)', () => {
    expect(parseSize('114688')).toBe(114688);
    expect(parseSize('112K')).toBe(112 * 1024);
    expect(parseSize('1.50G')).toBe(1.5 * 2 ** 30);
    expect(parseSize('0')).toBe(0);
    expect(parseSize('-')).toBeUndefined();
    expect(parseSize('none')).toBeUndefined();
    expect(parseSize('bogus')).toBeUndefined();
  });
});
