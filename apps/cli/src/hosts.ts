import { maskJob } from '@flynn-edge/host/secrets';
import { getJson } from './discoverd-http.js';
import { CliError, note } from './output.js';

// The hosts of the cluster, as the flynn-host daemons registered themselves in discoverd
// (service `flynn-host`, meta `id`), and a job id's host (Flynn: `<host id>-<uuid>`).

export interface HostRef {
  id: string;
  /** host:port of its API */
  addr: string;
  url: string;
  /** Its discoverd registration meta (id, version, …). */
  meta?: Record<string, string>;
}

interface Instance {
  addr: string;
  meta?: Record<string, string>;
}

export async function listHosts(servers: string[], clusterKey?: string): Promise<HostRef[]> {
  const failures: string[] = [];
  for (const server of servers) {
    try {
      const { value } = await getJson<Instance[]>(`${server}/services/flynn-host/instances`, { clusterKey });
      return value
        .map((i) => ({ id: i.meta?.id ?? i.addr, addr: i.addr, url: `http://${i.addr}`, meta: i.meta }))
        .sort((a, b) => a.id.localeCompare(b.id));
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
      // discoverd answers 404 when the service has no instance.
      if (/ 404/.test(err.message)) return [];
      failures.push(err.message);
    }
  }
  throw new CliError(`no discoverd server answered: ${failures.join('; ')}`);
}

/** The host a job runs on, from its id's prefix. */
export async function hostOfJob(jobId: string, servers: string[], clusterKey?: string): Promise<HostRef> {
  const dash = jobId.indexOf('-');
  if (dash <= 0) throw new CliError(`invalid job id ${JSON.stringify(jobId)} (want <host id>-<uuid>)`, 2);
  const hostId = jobId.slice(0, dash);
  const host = (await listHosts(servers, clusterKey)).find((h) => h.id === hostId);
  if (!host) throw new CliError(`no host ${JSON.stringify(hostId)} is registered in discoverd`);
  return host;
}

/** A job as a host's API lists it (the fields the CLI reads). */
export interface HostJob {
  id: string;
  state: string;
  createdAt: string;
  app: { id: string; name: string };
  processType: string;
  error?: string;
  env?: Record<string, string>;
  args?: string[];
}

/** Flynn's `ps` columns. */
export const JOB_COLUMNS = ['ID', 'STATE', 'CREATED', 'CONTROLLER APP', 'CONTROLLER TYPE', 'ERROR'];

/**
 * A host's jobs, secrets masked (the host masks them too; this also covers an older host); a host
 * that does not answer is noted on stderr and gives none.
 */
export async function hostJobs(host: HostRef, clusterKey?: string): Promise<HostJob[]> {
  try {
    return (await getJson<HostJob[]>(`${host.url}/host/jobs`, { clusterKey })).value.map(maskJob);
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    note(`host ${host.id}: ${err.message}`);
    return [];
  }
}
