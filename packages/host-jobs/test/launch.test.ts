import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '@flynn-edge/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import type { ArtifactStore } from '../src/artifacts.js';
import { INSTALL_DIR } from '../src/launch.js';
import { maskJob } from '../src/secrets.js';
import { JobSpecError } from '../src/types.js';
import { APP, cleanup, manager, nodeJob, tempDir } from './helpers.js';

// Jobs from artifacts (real processes): a tarball in the host's store, a builtin of the installed
// tree (the real one, and a fixture tree), what a cmd may name, and the cluster key that only
// system jobs get.

afterAll(cleanup);

/** Prints its cwd, argv and CLUSTER_KEY as one JSON line. */
const REPORT = `console.log(JSON.stringify({ cwd: process.cwd(), argv: process.argv.slice(1), exec: process.execPath, key: process.env.CLUSTER_KEY ?? null }))`;

function appDir(): string {
  const d = join(tempDir(), 'src');
  mkdirSync(join(d, 'bin'), { recursive: true });
  writeFileSync(join(d, 'bin/report.js'), `${REPORT}\n`);
  writeFileSync(join(d, 'bin/report.sh'), '#!/bin/sh\necho "sh in $(pwd)"\n', { mode: 0o755 });
  return d;
}

async function putArtifact(store: ArtifactStore, dir: string): Promise<string> {
  const body = execFileSync('tar', ['-cz', '-f', '-', '.'], { cwd: dir });
  const sha256 = createHash('sha256').update(body).digest('hex');
  await store.put(sha256, [body]);
  return sha256;
}

interface Report {
  cwd: string;
  argv: string[];
  exec: string;
  key: string | null;
}

async function reportOf(rec: { text(job: string, s?: 'stdout'): string[] }, id: string): Promise<Report> {
  const line = await waitFor(() => rec.text(id, 'stdout')[0], { what: 'the job report' });
  return JSON.parse(line) as Report;
}

describe('jobs from artifacts', () => {
  it('runs a script of a tar artifact under this Node, in the artifact root', async () => {
    const { m, rec } = await manager();
    const sha256 = await putArtifact(m.artifacts, appDir());
    const root = m.artifacts.rootOf(sha256);
    const job = await m.run({
      app: APP,
      cmd: 'bin/report.js',
      args: ['a', 'b'],
      artifact: { type: 'tar', sha256 },
    });
    expect(job).toMatchObject({ state: 'running', cmd: 'bin/report.js', artifact: { type: 'tar', sha256 } });
    const r = await reportOf(rec, job.id);
    expect(r).toEqual({
      cwd: root,
      argv: [join(root, 'bin/report.js'), 'a', 'b'],
      exec: process.execPath,
      key: null,
    });
    // '/bin/report.sh' is the artifact's, as an image's root would be; a bare `node` is this Node.
    const sh = await m.run({ app: APP, cmd: '/bin/report.sh', artifact: { type: 'tar', sha256 } });
    expect(await waitFor(() => rec.text(sh.id, 'stdout')[0])).toBe(`sh in ${root}`);
    const node = await m.run({
      app: APP,
      cmd: 'node',
      args: ['-e', REPORT],
      cwd: 'bin',
      artifact: { type: 'tar', sha256 },
    });
    expect(await reportOf(rec, node.id)).toMatchObject({ cwd: join(root, 'bin'), exec: process.execPath });
  });

  it('refuses a cmd outside the artifact and an artifact that is not here, creating no job', async () => {
    const { m } = await manager();
    const sha256 = 'a'.repeat(64);
    const run = (spec: Parameters<typeof m.run>[0]) => m.run(spec).catch((e) => e as JobSpecError);
    const outside = await run({ app: APP, cmd: '../../bin/sh', artifact: { type: 'tar', sha256 } });
    expect(outside).toBeInstanceOf(JobSpecError);
    expect(outside).toMatchObject({ field: 'cmd', message: 'cmd "../../bin/sh" is outside the artifact' });
    const missing = await run({ app: APP, cmd: 'bin/x.js', artifact: { type: 'tar', sha256 } });
    expect(missing).toMatchObject({
      field: 'artifact',
      message: `artifact ${sha256} is not available on any host`,
    });
    for (const artifact of [
      { type: 'tar', sha256: 'ABC' },
      { type: 'builtin', name: 'Bad_Name' },
      { type: 'builtin', name: 'no-such-app' },
      { type: 'docker', name: 'x' },
    ]) {
      expect(await run({ app: APP, cmd: 'x', artifact: artifact as never })).toMatchObject({
        field: 'artifact',
      });
    }
    expect(m.list()).toEqual([]);
  });

  it('asks fetchArtifact for a missing tarball (once for jobs started together) before creating the job', async () => {
    const src = appDir();
    let calls = 0;
    const { m, rec } = await manager({
      fetchArtifact: async (sha, store) => {
        calls++;
        expect(m.list()).toEqual([]);
        const got = await putArtifact(store, src);
        expect(got).toBe(sha);
      },
    });
    const body = execFileSync('tar', ['-cz', '-f', '-', '.'], { cwd: src });
    const sha256 = createHash('sha256').update(body).digest('hex');
    const [a, b] = await Promise.all(
      [1, 2].map(() => m.run({ app: APP, cmd: 'bin/report.js', artifact: { type: 'tar', sha256 } })),
    );
    expect(calls).toBe(1);
    expect((await reportOf(rec, a!.id)).cwd).toBe(m.artifacts.rootOf(sha256));
    expect((await reportOf(rec, b!.id)).cwd).toBe(m.artifacts.rootOf(sha256));
  });

  it('runs a builtin from the installed tree: apps/<name>', async () => {
    // A fixture tree, then the real one (apps/status is one of the installed apps).
    const tree = tempDir();
    mkdirSync(join(tree, 'apps/fake/bin'), { recursive: true });
    writeFileSync(join(tree, 'apps/fake/bin/fake.js'), `${REPORT}\n`);
    const { m, rec } = await manager({ installDir: tree });
    const job = await m.run({
      app: APP,
      cmd: 'bin/fake.js',
      args: ['-x'],
      artifact: { type: 'builtin', name: 'fake' },
    });
    const r = await reportOf(rec, job.id);
    expect(r).toMatchObject({
      cwd: join(tree, 'apps/fake'),
      argv: [join(tree, 'apps/fake/bin/fake.js'), '-x'],
    });

    expect(realpathSync(INSTALL_DIR)).toBe(realpathSync(join(import.meta.dirname, '../../..')));
    const real = await manager();
    const status = await real.m.run({
      app: APP,
      cmd: 'node',
      args: ['-e', REPORT],
      artifact: { type: 'builtin', name: 'status' },
    });
    expect((await reportOf(real.rec, status.id)).cwd).toBe(join(INSTALL_DIR, 'apps/status'));
  });

  it('gives CLUSTER_KEY to system jobs only, and never stores or lists it', async () => {
    const { m, rec } = await manager({ clusterKey: 'k3y-of-the-cluster' });
    const sys = await m.run(nodeJob(REPORT, { system: true }));
    const plain = await m.run(nodeJob(REPORT));
    expect((await reportOf(rec, sys.id)).key).toBe('k3y-of-the-cluster');
    expect((await reportOf(rec, plain.id)).key).toBeNull();
    expect(sys.system).toBe(true);
    expect(plain.system).toBeUndefined();
    for (const j of m.list()) {
      expect(JSON.stringify(j)).not.toContain('k3y-of-the-cluster');
      expect(JSON.stringify(maskJob(j))).not.toContain('k3y-of-the-cluster');
    }
  });
});
