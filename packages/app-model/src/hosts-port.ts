import type { JobRequest } from './job-spec.js';

// How the deployer reaches the hosts (their flynn-host APIs); the CLI implements it over HTTP,
// directly or through the controller gateway.

export interface HostRef {
  id: string;
  addr: string;
}

/** A job as a host lists it (the fields deploys read). */
export interface HostJobView {
  id: string;
  state: 'starting' | 'running' | 'done' | 'crashed' | 'failed';
  app: { id: string; name: string };
  processType: string;
  createdAt: string;
  registered: boolean;
  stopRequested: boolean;
  service?: string;
  meta?: Record<string, string>;
  error?: string;
  exitStatus?: number | null;
  signal?: string | null;
  restarts: number;
  /** When a crashed job's restart is due (it is coming back: count it as present). */
  restartAt?: string;
  args?: string[];
  cmd?: string;
}

export interface HostsPort {
  hosts(): Promise<HostRef[]>;
  /** Every job the host knows; a host that does not answer throws. */
  jobs(host: HostRef): Promise<HostJobView[]>;
  job(host: HostRef, id: string): Promise<HostJobView>;
  run(host: HostRef, spec: JobRequest): Promise<HostJobView>;
  /** SIGTERM after `drainMs` out of discoverd, SIGKILL after `graceMs`; resolves when it exited. */
  stop(host: HostRef, id: string, opts: { graceMs: number; drainMs: number }): Promise<void>;
  /** A data volume on the host (its flynn-host volume API); needed for types with volumes. */
  createVolume?(host: HostRef, meta: Record<string, string>): Promise<{ id: string }>;
  /** The last lines a job printed (for a failed deploy's message). */
  lastLines?(host: HostRef, id: string, n: number): Promise<string[]>;
}

/** A job and the host it runs on. */
export interface PlacedJob {
  host: HostRef;
  job: HostJobView;
}

/** Running, starting, or crashed with a restart pending (placing another would make two). */
export const isLive = (j: HostJobView): boolean =>
  !j.stopRequested &&
  (j.state === 'running' || j.state === 'starting' || (j.state === 'crashed' && j.restartAt !== undefined));

/** Every job of an app, on every host that answers (the others are passed to `onHostError`). */
export async function appJobs(
  port: HostsPort,
  appId: string,
  hosts?: HostRef[],
  onHostError?: (host: HostRef, err: Error) => void,
): Promise<PlacedJob[]> {
  const all = await Promise.all(
    (hosts ?? (await port.hosts())).map(async (host) => {
      try {
        return (await port.jobs(host)).filter((j) => j.app.id === appId).map((job) => ({ host, job }));
      } catch (err) {
        onHostError?.(host, err as Error);
        return [];
      }
    }),
  );
  return all.flat();
}
