import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// The user app the scenarios deploy with `flynn release add`: a gzip tarball holding `server.js`
// and a release.json whose one `web` process runs it, registered as `service` once an HTTP check
// of /healthz passes (every 500 ms), with the given volumes.

export interface WebAppOptions {
  service: string;
  volumes?: { path: string; env: string }[];
}

/** Writes `<dir>/<name>/` and packs it as `<dir>/<name>.tar.gz`; returns the tarball's path. */
export function webAppTarball(dir: string, name: string, server: string, opts: WebAppOptions): string {
  const src = join(dir, name);
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'server.js'), server);
  const web = {
    args: ['server.js'],
    ports: [
      {
        proto: 'tcp',
        service: { name: opts.service, check: { type: 'http', path: '/healthz', interval: '500ms' } },
      },
    ],
    ...(opts.volumes ? { volumes: opts.volumes } : {}),
  };
  writeFileSync(join(src, 'release.json'), JSON.stringify({ processes: { web } }));
  const tarball = join(dir, `${name}.tar.gz`);
  execFileSync('tar', ['-czf', tarball, '-C', src, '.']);
  return tarball;
}
