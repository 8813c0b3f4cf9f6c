import { AppModelError } from './errors.js';
import { durationMs } from './parse.js';
import { isSystemApp } from './store.js';
import type { App, Artifact, ProcessType, Release } from './types.js';

// A release's process type as the job a host runs (flynn-ops.md §1.2 "Release → job spec"): the
// wire shape of POST /host/jobs (packages/host-jobs JobSpec).

export type JobArtifact = { type: 'builtin'; name: string } | { type: 'tar'; sha256: string; size?: number };

export interface JobRequest {
  app: { id: string; name: string };
  processType: string;
  cmd: string;
  args: string[];
  env: Record<string, string>;
  ports: number;
  service?: string;
  health?: {
    kind: 'http' | 'tcp';
    port: number;
    path?: string;
    status?: number;
    intervalMs?: number;
    threshold?: number;
  };
  restart: 'never' | 'on-failure' | 'always';
  meta: Record<string, string>;
  artifact?: JobArtifact;
  /** The host adds its cluster key to the env (system apps only; never in a release). */
  system?: boolean;
  /** Data volumes on the host: each volume's mount path goes into the env var named. */
  volumes?: { id: string; env: string }[];
}

/** Health probes every second, up after one pass: a deploy should not wait 4 s per job. */
const CHECK_INTERVAL_MS = 1000;

export function jobArtifact(a: Artifact | undefined): JobArtifact | undefined {
  if (!a) return undefined;
  if (a.type === 'builtin') return { type: 'builtin', name: a.uri.replace(/^builtin:/, '') };
  return { type: 'tar', sha256: a.sha256, size: a.size };
}

/** The discoverd service a process registers its first port under, if any. */
export function serviceOf(p: ProcessType): string | undefined {
  return p.service ?? p.ports?.[0]?.service?.name;
}

export function jobRequest(
  app: App,
  release: Release,
  type: string,
  artifact: Artifact | undefined,
  extra: { args?: string[]; oneOff?: boolean } = {},
): JobRequest {
  const p: ProcessType | undefined = release.processes[type];
  if (!p && !extra.oneOff)
    throw new AppModelError(`process type ${JSON.stringify(type)} not found in release ${release.id}`);
  const argv = extra.args ?? p?.args ?? [];
  if (argv.length === 0)
    throw new AppModelError(`process type ${JSON.stringify(type)} of release ${release.id} has no args`);
  const check = p?.ports?.[0]?.service?.check;
  const service = extra.oneOff || !p ? undefined : serviceOf(p);
  const env: Record<string, string> = { ...release.env, ...(p?.env ?? {}), FLYNN_RELEASE_ID: release.id };
  return {
    app: { id: app.id, name: app.name },
    processType: extra.oneOff ? 'run' : type,
    cmd: argv[0],
    args: argv.slice(1),
    env,
    ports: extra.oneOff ? 0 : (p?.ports?.length ?? 0),
    service,
    health:
      service && check
        ? {
            kind: check.type,
            port: 0,
            path: check.path,
            status: check.status,
            intervalMs: durationMs(check.interval, CHECK_INTERVAL_MS),
            threshold: check.threshold ?? 1,
          }
        : undefined,
    restart: extra.oneOff ? 'never' : 'always',
    meta: { FLYNN_RELEASE_ID: release.id },
    artifact: jobArtifact(artifact),
    system: isSystemApp(app) || undefined,
  };
}

/** `/data` → VOLUME_DATA (the mount path's env var when the process names none). */
export function volumeEnvName(path: string): string {
  return `VOLUME_${path
    .replace(/^\/+/, '')
    .toUpperCase()
    .replace(/[^A-Z0-9]/g, '_')}`;
}
