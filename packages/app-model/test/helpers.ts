import { InProcessDiscoverd } from '@flynn-edge/discoverd/testing';
import { DiscoverdClient } from '@flynn-edge/discoverd-client';
import {
  AppStore,
  type HostJobView,
  type HostRef,
  type HostsPort,
  isLive,
  type JobRequest,
} from '../src/index.js';

// What the app model's tests share: a store in a real (in-process) discoverd, and hosts that are
// a table of jobs, each up as soon as it is run.

/** An AppStore over a fresh in-process discoverd; `close` stops both. */
export async function startStore(): Promise<{ store: AppStore; close: () => Promise<void> }> {
  const discoverd = await new InProcessDiscoverd('k').start();
  const client = new DiscoverdClient({ servers: [discoverd.url], clusterKey: 'k' });
  discoverd.track({ close: async () => client.close() });
  return { store: new AppStore(client.kv), close: () => discoverd.close() };
}

export class TableHosts implements HostsPort {
  refs: HostRef[] = ['h1', 'h2', 'h3'].map((id) => ({ id, addr: `${id}:1113` }));
  readonly jobsOf = new Map<string, HostJobView[]>(this.refs.map((h) => [h.id, []]));
  private n = 0;

  async hosts(): Promise<HostRef[]> {
    return this.refs;
  }
  async jobs(host: HostRef): Promise<HostJobView[]> {
    return this.jobsOf.get(host.id) ?? [];
  }
  async job(host: HostRef, id: string): Promise<HostJobView> {
    const j = this.jobsOf.get(host.id)?.find((x) => x.id === id);
    if (!j) throw new Error(`no job ${id}`);
    return j;
  }
  async run(host: HostRef, spec: JobRequest): Promise<HostJobView> {
    const job: HostJobView = {
      id: `${host.id}-${++this.n}`,
      state: 'running',
      app: spec.app,
      processType: spec.processType,
      createdAt: new Date(Date.now() + this.n).toISOString(),
      registered: true,
      stopRequested: false,
      meta: spec.meta,
      restarts: 0,
    };
    this.jobsOf.get(host.id)?.push(job);
    return job;
  }
  async stop(host: HostRef, id: string): Promise<void> {
    const j = await this.job(host, id);
    j.stopRequested = true;
    j.state = 'done';
  }
  /** Host ids of the app's live jobs (of one type, if given), sorted. */
  live(appId: string, type?: string): string[] {
    return this.refs
      .flatMap((h) =>
        (this.jobsOf.get(h.id) ?? []).filter(
          (j) => j.app.id === appId && (type === undefined || j.processType === type) && isLive(j),
        ),
      )
      .map((j) => j.id.split('-')[0])
      .sort();
  }
  /** The host leaves the list the port answers (it "dies"). */
  drop(id: string): void {
    this.refs = this.refs.filter((h) => h.id !== id);
  }
}
