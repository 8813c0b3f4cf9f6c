import type { HostJobView, HostRef, HostsPort, JobRequest } from '@flynn-edge/app-model';

// The flynn-host API of a set of hosts, with the cluster key (design.md): app-model's HostsPort
// for deploys, and the calls bootstrap makes (status, resource checks). Hosts are addressed by
// `ip:port`; a 401 is the operator's problem to fix, so it says which host refused the key.

export class HostApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly body: unknown,
  ) {
    super(message);
    this.name = 'HostApiError';
  }
}

export interface HostStatus {
  id: string;
  url?: string;
  log_dir?: string;
  discoverd?: string[];
  network?: { external_ip?: string };
}

export class HostApi implements HostsPort {
  constructor(
    private readonly refs: HostRef[],
    private readonly clusterKey?: string,
    private readonly timeoutMs = 10_000,
  ) {}

  async hosts(): Promise<HostRef[]> {
    return this.refs;
  }

  /** One call; JSON in and out. A non-2xx answer throws a HostApiError. */
  async request(addr: string, method: string, path: string, body?: unknown): Promise<unknown> {
    const headers: Record<string, string> = {};
    if (this.clusterKey) headers.authorization = `Bearer ${this.clusterKey}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const r = await fetch(`http://${addr}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await r.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    if (r.status === 401) {
      throw new HostApiError(`host ${addr.replace(/:\d+$/, '')}: the cluster key was refused`, 401, parsed);
    }
    if (!r.ok) {
      const msg = (parsed as { message?: string } | undefined)?.message ?? text;
      throw new HostApiError(`${method} ${path} on ${addr}: ${r.status} ${msg}`, r.status, parsed);
    }
    return parsed;
  }

  status(addr: string): Promise<HostStatus> {
    return this.request(addr, 'GET', '/host/status') as Promise<HostStatus>;
  }

  async jobs(host: HostRef): Promise<HostJobView[]> {
    return (await this.request(host.addr, 'GET', '/host/jobs')) as HostJobView[];
  }

  async job(host: HostRef, id: string): Promise<HostJobView> {
    return (await this.request(host.addr, 'GET', `/host/jobs/${id}`)) as HostJobView;
  }

  async run(host: HostRef, spec: JobRequest | Record<string, unknown>): Promise<HostJobView> {
    return (await this.request(host.addr, 'POST', '/host/jobs', spec)) as HostJobView;
  }

  async stop(host: HostRef, id: string, o: { graceMs: number; drainMs: number }): Promise<void> {
    await this.request(host.addr, 'DELETE', `/host/jobs/${id}?grace=${o.graceMs}&drain=${o.drainMs}`);
  }

  async createVolume(host: HostRef, meta: Record<string, string>): Promise<{ id: string }> {
    return (await this.request(host.addr, 'POST', '/storage/providers/default/volumes', { meta })) as {
      id: string;
    };
  }

  async lastLines(host: HostRef, id: string, n: number): Promise<string[]> {
    const r = await fetch(
      `http://${host.addr}/host/jobs/${encodeURIComponent(id)}/log?lines=${n}&format=text`,
      {
        headers: this.clusterKey ? { authorization: `Bearer ${this.clusterKey}` } : {},
        signal: AbortSignal.timeout(this.timeoutMs),
      },
    );
    if (!r.ok) return [];
    return (await r.text()).split('\n').filter(Boolean).slice(-n);
  }
}
