import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webAppTarball } from '../src/web-app.js';
import { zfsCluster } from '../src/zfs-cluster.js';

// Volumes as app data: a process type's `volumes` become ZFS data volumes on the job's host
// (real zfs-fuse, one pool per host), recorded in the store; a redeploy puts the job back on the
// host that holds its data, and the data is there.

const { zfs, dir, cluster, flynn } = await zfsCluster('flynn-volumes', [
  '127.0.0.121',
  '127.0.0.122',
  '127.0.0.123',
]);

const NOTES = `
const http = require('node:http');
const fs = require('node:fs');
const file = require('node:path').join(process.env.NOTES_DIR, 'notes.txt');
http.createServer((req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  if (req.method === 'POST') {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => { fs.appendFileSync(file, body + '\\n'); res.end('saved'); });
    return;
  }
  const notes = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  res.end(JSON.stringify({ job: process.env.FLYNN_JOB_ID, dir: process.env.NOTES_DIR, notes }));
}).listen(process.env.PORT, process.env.EXTERNAL_IP);
`;

async function via(path: string, method = 'GET', body?: string): Promise<string> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: cluster.hosts[0],
        port: cluster.ports.http,
        path,
        method,
        headers: { host: `notes.${cluster.domain}` },
      },
      (res) => {
        let text = '';
        res
          .setEncoding('utf8')
          .on('data', (d) => (text += d))
          .on('end', () => resolve(text));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

beforeAll(async () => {
  if (zfs) await cluster.start();
}, 240_000);
afterAll(async () => {
  if (zfs) await cluster.close();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe.skipIf(!zfs)('volumes as app data (real ZFS)', { timeout: 120_000 }, () => {
  it('gives a web job a ZFS volume, keeps its data across a redeploy on the host that holds it', async () => {
    const notesTarball = webAppTarball(dir, 'notes', NOTES, {
      service: 'notes-web',
      volumes: [{ path: '/data', env: 'NOTES_DIR' }],
    });
    expect((await flynn('create', 'notes')).code).toBe(0);
    let r = await flynn('-a', 'notes', 'release', 'add', notesTarball);
    expect(r.code, r.stderr).toBe(0);
    r = await flynn('-a', 'notes', 'scale', 'web=1');
    expect(r.code, r.stderr).toBe(0);

    const first = JSON.parse(await via('/')) as { job: string; dir: string; notes: string };
    expect(first.dir).toMatch(/\/mnt\/data\//);
    expect(await via('/', 'POST', 'remember me')).toBe('saved');

    const app = JSON.parse((await flynn('kv', 'get', 'apps/notes')).stdout) as { id: string };
    const recorded = (await flynn('kv', 'list', `volumes/${app.id}/`)).stdout.trim().split('\n');
    expect(recorded).toHaveLength(1);
    const volume = JSON.parse((await flynn('kv', 'get', recorded[0])).stdout) as {
      host_id: string;
      path: string;
    };
    expect(volume).toMatchObject({ host_id: first.job.split('-')[0], path: '/data', process_type: 'web' });

    // A redeploy: the new job goes where the data is, and finds it.
    r = await flynn('-a', 'notes', 'env', 'set', 'REDEPLOYED=1');
    expect(r.code, r.stderr).toBe(0);
    const second = JSON.parse(await via('/')) as { job: string; dir: string; notes: string };
    expect(second.job).not.toBe(first.job);
    expect(second.job.split('-')[0]).toBe(first.job.split('-')[0]);
    expect(second.dir).toBe(first.dir);
    expect(second.notes).toBe('remember me\n');

    // A second job lands on another host with a volume of its own.
    r = await flynn('-a', 'notes', 'scale', 'web=2');
    expect(r.code, r.stderr).toBe(0);
    expect((await flynn('kv', 'list', `volumes/${app.id}/`)).stdout.trim().split('\n')).toHaveLength(2);
  });
});
