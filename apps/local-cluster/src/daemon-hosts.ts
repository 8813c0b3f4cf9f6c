import type { HostJobView, HostRef, HostsPort, JobRequest } from '@flynn-edge/app-model';

// The deployer's view of a local cluster's hosts (the system apps are deployed in-process while
// the cluster starts; the demo app goes through the `flynn` CLI as an operator's would).

export type HostApiCall = (i: number, method: string, path: string, body?: unknown) => Promise<unknown>;

export class DaemonHosts implements HostsPort {
  constructor(
    private readonly refs: HostRef[],
    private readonly call: HostApiCall,
  ) {}

  private index(host: HostRef): number {
    return this.refs.findIndex((h) => h.id === host.id);
  }

  async hosts(): Promise<HostRef[]> {
    return this.refs;
  }

  async jobs(host: HostRef): Promise<HostJobView[]> {
    return (await this.call(this.index(host), 'GET', '/host/jobs')) as HostJobView[];
  }

  async job(host: HostRef, id: string): Promise<HostJobView> {
    return (await this.call(this.index(host), 'GET', `/host/jobs/${id}`)) as HostJobView;
  }

  async run(host: HostRef, spec: JobRequest): Promise<HostJobView> {
    return (await this.call(this.index(host), 'POST', '/host/jobs', spec)) as HostJobView;
  }

  async stop(host: HostRef, id: string, o: { graceMs: number; drainMs: number }): Promise<void> {
    await this.call(this.index(host), 'DELETE', `/host/jobs/${id}?grace=${o.graceMs}&drain=${o.drainMs}`);
  }
}
