import { createReadStream } from 'node:fs';
import { type HttpTransport, nodeTransport, readBody } from '@flynn-edge/backup';
import { HostApi, HostApiError } from '../host-api.js';
import type { ReleaseFile } from './release-file.js';
import { UpdateError } from './versions.js';

// The host API calls of an update (flynn-ops.md §5.2 steps 3–4): each host's version, pid and
// daemon flags; the release upload; the daemon handover and the wait for its successor.

export interface UpdateHost {
  id: string;
  /** ip:port of its API. */
  addr: string;
}

/** What /host/status says about the daemon. `pid` and `flags` are absent on older hosts. */
export interface DaemonState {
  version: string;
  pid?: number;
  flags?: string[];
}

export interface HostAt extends UpdateHost, DaemonState {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A release upload fails when no byte has moved either way for this long. */
const UPLOAD_IDLE_MS = 20_000;

export class UpdateCalls {
  private readonly api: HostApi;
  /** The daemon answers a hand-over only once its successor serves (up to 30 s, plus start-up). */
  private readonly handOverApi: HostApi;

  private readonly transport: HttpTransport;

  constructor(clusterKey?: string, timeoutMs = 10_000) {
    this.transport = nodeTransport(clusterKey);
    this.api = new HostApi([], clusterKey, timeoutMs);
    this.handOverApi = new HostApi([], clusterKey, Math.max(timeoutMs, 45_000));
  }

  async daemon(host: UpdateHost): Promise<DaemonState> {
    const s = (await this.api.request(host.addr, 'GET', '/host/status')) as Partial<DaemonState>;
    if (typeof s.version !== 'string') throw new UpdateError(`host ${host.id}: /host/status has no version`);
    return {
      version: s.version,
      pid: typeof s.pid === 'number' ? s.pid : undefined,
      flags: Array.isArray(s.flags) ? s.flags.map(String) : undefined,
    };
  }

  /** Every host with its daemon's state; a host that does not answer fails the whole call. */
  async states<H extends UpdateHost>(hosts: H[]): Promise<(H & DaemonState)[]> {
    return Promise.all(
      hosts.map(async (h) => {
        try {
          return { ...h, ...(await this.daemon(h)) };
        } catch (err) {
          throw new UpdateError(`host ${h.id}: ${(err as Error).message}`);
        }
      }),
    );
  }

  /** `h1 0.2.0, h2 0.1.0, h3 ?`: each host's version as it answers now. */
  async versionsLine(hosts: UpdateHost[]): Promise<string> {
    const parts = await Promise.all(
      hosts.map(async (h) => {
        try {
          return `${h.id} ${(await this.daemon(h)).version}`;
        } catch {
          return `${h.id} ?`;
        }
      }),
    );
    return parts.join(', ');
  }

  /**
   * PUT /host/releases/<version>: the host unpacks and self-checks it (`current` moves at the
   * hand-over). No overall deadline; a host that neither takes bytes nor answers for IDLE_MS (cut
   * off: a reused connection would otherwise wait for TCP to give up) fails. While it unpacks, the
   * host sends `102 Processing` so a slow disk is not taken for a dead host.
   */
  async upload(host: UpdateHost, release: ReleaseFile): Promise<{ path: string }> {
    const url = `http://${host.addr}/host/releases/${encodeURIComponent(release.version)}`;
    let text: string;
    try {
      const res = await this.transport.request('PUT', url, {
        headers: { 'content-type': 'application/gzip', 'flynn-release-sha256': release.sha256 },
        body: createReadStream(release.file),
        idleMs: UPLOAD_IDLE_MS,
      });
      text = await readBody(res);
      if ((res.statusCode ?? 0) >= 300) {
        let msg = text.trim();
        try {
          msg = (JSON.parse(text) as { message?: string }).message ?? msg;
        } catch {
          // not JSON: the text is the message
        }
        throw new UpdateError(
          `host ${host.id}: release ${release.version} refused: ${res.statusCode} ${msg}`,
        );
      }
    } catch (err) {
      if (err instanceof UpdateError) throw err;
      throw new UpdateError(`host ${host.id}: sending the release failed: ${(err as Error).message}`);
    }
    let path: unknown;
    try {
      path = (JSON.parse(text) as { path?: unknown }).path;
    } catch {
      // checked below
    }
    if (typeof path !== 'string')
      throw new UpdateError(`host ${host.id}: release ${release.version} accepted without a path`);
    return { path };
  }

  /** Reads the tarball once and sends it to every host in parallel; all must accept it. */
  async distribute(hosts: UpdateHost[], release: ReleaseFile): Promise<Map<string, string>> {
    const results = await Promise.allSettled(hosts.map((h) => this.upload(h, release)));
    const failed = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []));
    if (failed.length > 0) throw new UpdateError(`${failed.join('; ')} (no daemon was restarted)`);
    return new Map(
      hosts.map((h, i) => [h.id, (results[i] as PromiseFulfilledResult<{ path: string }>).value.path]),
    );
  }

  /** POST /host/update with the daemon's own flags: 200 once the new daemon serves. */
  async handOver(host: HostAt, path: string): Promise<{ pid?: number }> {
    const body: { path: string; args?: string[] } = { path };
    if (host.flags) body.args = host.flags;
    try {
      const r = (await this.handOverApi.request(host.addr, 'POST', '/host/update', body)) as {
        pid?: unknown;
      };
      return { pid: typeof r?.pid === 'number' ? r.pid : undefined };
    } catch (err) {
      // The daemon's own reason when it gave one, else what the call itself ran into.
      const said =
        err instanceof HostApiError ? (err.body as { message?: unknown } | undefined)?.message : undefined;
      const why = typeof said === 'string' ? said : (err as Error).message;
      throw new UpdateError(`host ${host.id}: update failed: ${why}`);
    }
  }

  /** Polls /host/status until the daemon is `version` with a pid other than `oldPid`. */
  async waitFor(host: UpdateHost, version: string, oldPid: number | undefined, timeoutMs: number) {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer';
    while (Date.now() < deadline) {
      try {
        const s = await this.daemon(host);
        if (s.version === version && (oldPid === undefined || s.pid === undefined || s.pid !== oldPid))
          return s;
        last = `${s.version} pid ${s.pid ?? '?'}`;
      } catch (err) {
        last = (err as Error).message;
      }
      await sleep(250);
    }
    throw new UpdateError(
      `host ${host.id} is not on ${version} after ${Math.round(timeoutMs / 1000)}s (last: ${last})`,
    );
  }
}
