import { randomUUID } from 'node:crypto';
import { SHA256_RE } from './artifacts.js';
import { BUILTIN_NAME_RE, cmdInRoot } from './launch.js';
import { type Job, type JobArtifact, type JobSpec, JobSpecError, type RestartPolicy } from './types.js';

// What run() accepts: a JobSpec checked field by field (JobSpecError names the field) and turned
// into a new job, `starting`.

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$/;
const RESTART_POLICIES: readonly RestartPolicy[] = ['never', 'on-failure', 'always'];
const MAX_PORTS = 64;

export function validateHostId(id: string): void {
  if (!id || !ID_RE.test(id)) throw new JobSpecError(`invalid host id ${JSON.stringify(id)}`, 'hostId');
}

export function validateGrace(graceMs: number): void {
  if (!Number.isFinite(graceMs) || graceMs < 0)
    throw new JobSpecError(`invalid grace period ${graceMs}`, 'graceMs');
}

export function validateDrain(drainMs: number): void {
  if (!Number.isFinite(drainMs) || drainMs < 0)
    throw new JobSpecError(`invalid drain period ${drainMs}`, 'drainMs');
}

/** A copy of a well-formed artifact (whether it exists is checked when the job runs). */
function validateArtifact(a: unknown): JobArtifact {
  const bad = (why: string) => new JobSpecError(`artifact: ${why}`, 'artifact');
  if (a === null || typeof a !== 'object' || Array.isArray(a)) throw bad('must be an object');
  const x = a as Record<string, unknown>;
  if (x.type === 'builtin') {
    if (typeof x.name !== 'string' || !BUILTIN_NAME_RE.test(x.name)) {
      throw bad(`builtin name must match ${BUILTIN_NAME_RE.source}`);
    }
    return { type: 'builtin', name: x.name };
  }
  if (x.type === 'tar') {
    if (typeof x.sha256 !== 'string' || !SHA256_RE.test(x.sha256)) {
      throw bad('tar sha256 must be 64 lowercase hex digits');
    }
    if (x.size !== undefined && (!Number.isSafeInteger(x.size) || (x.size as number) < 0)) {
      throw bad('tar size must be a non-negative integer');
    }
    return x.size === undefined
      ? { type: 'tar', sha256: x.sha256 }
      : { type: 'tar', sha256: x.sha256, size: x.size as number };
  }
  throw bad('type must be builtin or tar');
}

/** The job a valid spec describes (id `<hostId>-<uuid>` unless the spec names one). */
export function validateSpec(spec: JobSpec, hostId: string): Job {
  if (spec === null || typeof spec !== 'object') throw new JobSpecError('job spec must be an object');
  const str = (v: unknown) => typeof v === 'string' && v.length > 0;
  if (!spec.app || !str(spec.app.id) || !str(spec.app.name)) {
    throw new JobSpecError('app.id and app.name must be non-empty strings', 'app');
  }
  if (!str(spec.cmd)) throw new JobSpecError('cmd must be a non-empty string', 'cmd');
  const args = spec.args ?? [];
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) {
    throw new JobSpecError('args must be an array of strings', 'args');
  }
  const env = spec.env ?? {};
  if (
    typeof env !== 'object' ||
    Array.isArray(env) ||
    !Object.values(env).every((v) => typeof v === 'string')
  ) {
    throw new JobSpecError('env must map names to strings', 'env');
  }
  const ports = spec.ports ?? 0;
  if (!Number.isInteger(ports) || ports < 0 || ports > MAX_PORTS) {
    throw new JobSpecError(`ports must be an integer 0-${MAX_PORTS}`, 'ports');
  }
  const restart = spec.restart ?? 'never';
  if (!RESTART_POLICIES.includes(restart)) {
    throw new JobSpecError(`restart must be one of ${RESTART_POLICIES.join(', ')}`, 'restart');
  }
  if (spec.service !== undefined && (!str(spec.service) || ports < 1)) {
    throw new JobSpecError('service needs a non-empty name and at least one port', 'service');
  }
  const h = spec.health;
  if (h !== undefined) {
    if (h.kind !== 'tcp' && h.kind !== 'http')
      throw new JobSpecError('health.kind must be tcp or http', 'health');
    if (!Number.isInteger(h.port) || h.port < 0 || h.port >= ports) {
      throw new JobSpecError('health.port must index one of the job ports', 'health');
    }
    for (const k of ['intervalMs', 'threshold', 'timeoutMs', 'startIntervalMs'] as const) {
      const v = h[k];
      if (v !== undefined && (!Number.isFinite(v) || v <= 0)) {
        throw new JobSpecError(`health.${k} must be a positive number`, 'health');
      }
    }
  }
  const artifact = spec.artifact === undefined ? undefined : validateArtifact(spec.artifact);
  // Lexically only: a cmd path may not climb out of the artifact root (any root will do here).
  if (artifact && spec.cmd.includes('/')) cmdInRoot('/artifact', spec.cmd);
  if (spec.cwd !== undefined && (typeof spec.cwd !== 'string' || spec.cwd === '')) {
    throw new JobSpecError('cwd must be a non-empty string', 'cwd');
  }
  if (spec.system !== undefined && typeof spec.system !== 'boolean') {
    throw new JobSpecError('system must be true or false', 'system');
  }
  const id = spec.id ?? `${hostId}-${randomUUID()}`;
  if (!ID_RE.test(id)) throw new JobSpecError(`invalid job id ${JSON.stringify(id)}`, 'id');
  return {
    id,
    app: { id: spec.app.id, name: spec.app.name },
    processType: spec.processType ?? '',
    cmd: spec.cmd,
    args: [...args],
    env: { ...env },
    cwd: spec.cwd,
    ports: [],
    health: h ? { ...h } : undefined,
    restart,
    service: spec.service,
    meta: spec.meta ? { ...spec.meta } : undefined,
    ...(artifact ? { artifact } : {}),
    ...(spec.system ? { system: true } : {}),
    state: 'starting',
    createdAt: new Date().toISOString(),
    restarts: 0,
    stopRequested: false,
    registered: false,
    child: false,
  };
}
