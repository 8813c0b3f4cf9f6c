import type { HostJobView, HostRef, HostsPort, JobRequest } from '@flynn-edge/app-model';
import { answerError, expectOk, getJson, request } from '../discoverd-http.js';
import { hostOfJob, listHosts } from '../hosts.js';
import type { ClusterTarget } from './target.js';

// The hosts as the deployer and the app commands see them: the flynn-host daemons registered in
// discoverd (service `flynn-host`, meta `id`), their APIs reached through the target.

export class HttpHosts implements HostsPort {
  constructor(private readonly target: ClusterTarget) {}

  private url(host: HostRef, path: string): string {
    return `${this.target.hostUrl(host)}${path}`;
  }

  private get opts() {
    return { clusterKey: this.target.clusterKey };
  }

  hosts(): Promise<HostRef[]> {
    return listHosts(this.target.discoverd, this.target.clusterKey);
  }

  async jobs(host: HostRef): Promise<HostJobView[]> {
    return (await getJson<HostJobView[]>(this.url(host, '/host/jobs'), this.opts)).value;
  }

  async job(host: HostRef, id: string): Promise<HostJobView> {
    return (await getJson<HostJobView>(this.url(host, `/host/jobs/${encodeURIComponent(id)}`), this.opts))
      .value;
  }

  async run(host: HostRef, spec: JobRequest): Promise<HostJobView> {
    const answer = await request('POST', this.url(host, '/host/jobs'), {
      ...this.opts,
      body: spec,
      timeoutMs: 60_000,
    });
    return JSON.parse(expectOk('POST', answer).text) as HostJobView;
  }

  async stop(host: HostRef, id: string, o: { graceMs: number; drainMs: number }): Promise<void> {
    const answer = await request(
      'DELETE',
      this.url(host, `/host/jobs/${encodeURIComponent(id)}?grace=${o.graceMs}&drain=${o.drainMs}`),
      { ...this.opts, timeoutMs: o.graceMs + o.drainMs + 10_000 },
    );
    if (answer.status !== 404) expectOk('DELETE', answer);
  }

  async createVolume(host: HostRef, meta: Record<string, string>): Promise<{ id: string }> {
    const answer = await request('POST', this.url(host, '/storage/providers/default/volumes'), {
      ...this.opts,
      body: { meta },
      timeoutMs: 60_000,
    });
    return JSON.parse(expectOk('POST', answer).text) as { id: string };
  }

  async lastLines(host: HostRef, id: string, n: number): Promise<string[]> {
    const answer = await request(
      'GET',
      this.url(host, `/host/jobs/${encodeURIComponent(id)}/log?lines=${n}`),
      this.opts,
    );
    if (answer.status !== 200) throw answerError('GET', answer);
    return answer.text
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { msg?: string }).msg ?? '')
      .filter(Boolean);
  }

  /** The host a job id names (`<host id>-<uuid>`). */
  hostOf(jobId: string): Promise<HostRef> {
    return hostOfJob(jobId, this.target.discoverd, this.target.clusterKey);
  }
}
