import type { Instance, LeaderType, ServiceMeta } from '@flynn-edge/discoverd-state';
import { type Clock, systemClock } from './clock.js';
import { DiscoverdError, isNotFound, isObjectExists } from './errors.js';
import {
  buildInstance,
  type Env,
  Heartbeater,
  type HeartbeatTiming,
  type HeartbeatTransport,
  type InstanceOptions,
} from './heartbeat.js';
import { type FetchLike, type RequestOptions, Transport } from './http.js';
import { KvClient } from './kv.js';
import { parseDiscoverdEnv, ServerList } from './servers.js';
import { LeaderWatch, Watch, type WatchOptions } from './watch.js';

/** How long close() tries to unregister an instance before leaving it to expire. */
const UNREGISTER_DEADLINE_MS = 2000;

// The discoverd client the router, status and host use: Flynn's registry API (spec §1.2) with
// Flynn's retry, redirect and leader-pinning rules (§1.8), heartbeats (§1.6), watches with
// reconnect and diffing, service meta compare-and-set, and the cluster store under /kv/.

export interface DiscoverdClientOptions {
  /** Server URLs or host:port; default from the DISCOVERD env var (`none`/empty → 127.0.0.1:1111). */
  servers?: readonly string[];
  /** Per-attempt timeout (Flynn: 5 s). */
  requestTimeoutMs?: number;
  /** How long one call keeps retrying across servers (Flynn: 10 s). */
  retryDeadlineMs?: number;
  /** Sent as `Authorization: Bearer <key>`; default from CLUSTER_KEY. Needed for /kv/ and /raft writes. */
  clusterKey?: string;
  /** Replace the server list with the Discoverd-Peers header of answers (default true). */
  followPeers?: boolean;
  fetch?: FetchLike;
  clock?: Clock;
  /** Random source for heartbeat jitter. */
  random?: () => number;
  /** Environment for DISCOVERD, CLUSTER_KEY, EXTERNAL_IP and FLYNN_* (default: process.env). */
  env?: Env;
  /** Heartbeat timing overrides (tests). */
  heartbeat?: HeartbeatTiming;
  /** Watch reconnect overrides. */
  watch?: Pick<WatchOptions, 'reconnectWindowMs' | 'reconnectDelayMs' | 'idleTimeoutMs'>;
}

export interface RegisterOptions extends Omit<InstanceOptions, 'env'> {
  /** Called for every failed heartbeat (the heartbeater keeps retrying). */
  onError?: (err: Error) => void;
}

export interface SetMetaRequest {
  data: unknown;
  /** 0 to create; otherwise the index of the meta being replaced (compare-and-set). */
  index: number;
  /** Also make this instance the service leader. */
  leader_id?: string;
}

/** Options of registry reads. */
export interface ReadOptions {
  /**
   * Read-your-writes: the answering node first waits until it has applied this log index (an
   * extension of this server; compare `client.lastIndex` or a meta write's index).
   */
  index?: number;
}

function seg(s: string): string {
  return encodeURIComponent(s);
}

function q(opts: ReadOptions): string {
  return opts.index !== undefined && opts.index > 0 ? `?index=${opts.index}` : '';
}

export class DiscoverdClient {
  readonly transport: Transport;
  readonly kv: KvClient;
  private readonly clock: Clock;
  private readonly env: Env;
  private readonly heartbeaters = new Set<Heartbeater>();
  /** Aborted by close(): requests that must not outlive the client (see addServiceAndRegister). */
  private readonly closing = new AbortController();
  private readonly watches = new Set<Watch>();

  constructor(private readonly opts: DiscoverdClientOptions = {}) {
    this.env = opts.env ?? process.env;
    this.clock = opts.clock ?? systemClock;
    const servers = new ServerList(
      opts.servers ?? parseDiscoverdEnv(this.env.DISCOVERD),
      opts.followPeers ?? true,
    );
    this.transport = new Transport({
      servers,
      requestTimeoutMs: opts.requestTimeoutMs,
      retryDeadlineMs: opts.retryDeadlineMs,
      clusterKey: opts.clusterKey ?? (this.env.CLUSTER_KEY || undefined),
      fetch: opts.fetch,
      clock: this.clock,
    });
    this.kv = new KvClient({ transport: this.transport, clock: this.clock });
  }

  /** The servers currently known (refreshed from Discoverd-Peers). */
  get servers(): readonly string[] {
    return this.transport.servers.servers;
  }

  /** The remembered Raft leader (the last 307 target), tried first for writes. */
  get rememberedLeader(): string | undefined {
    return this.transport.servers.leader;
  }

  /** Highest Discoverd-Index seen in any answer. */
  get lastIndex(): number {
    return this.transport.servers.lastIndex;
  }

  /** Any request, with the client's retries, redirects and error mapping; JSON-decoded answer. */
  send<T>(method: string, path: string, opts?: RequestOptions): Promise<T> {
    return this.transport.json<T>(method, path, opts);
  }

  // ---- registry ----

  async ping(): Promise<void> {
    await this.transport.request('GET', '/ping');
  }

  async addService(
    service: string,
    config: { leader_type?: LeaderType } = {},
    signal?: AbortSignal,
  ): Promise<void> {
    await this.transport.request('PUT', `/services/${seg(service)}`, {
      body: { leader_type: config.leader_type ?? 'oldest' },
      signal,
    });
  }

  async removeService(service: string): Promise<void> {
    await this.transport.request('DELETE', `/services/${seg(service)}`);
  }

  /** Current instances sorted by index; [] when there are none (the server's 404). */
  async instances(service: string, opts: ReadOptions = {}): Promise<Instance[]> {
    try {
      return (
        (await this.transport.json<Instance[]>('GET', `/services/${seg(service)}/instances${q(opts)}`)) ?? []
      );
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
  }

  /** The service leader, or null when there is none. */
  async leader(service: string, opts: ReadOptions = {}): Promise<Instance | null> {
    try {
      return (
        (await this.transport.json<Instance>('GET', `/services/${seg(service)}/leader${q(opts)}`)) ?? null
      );
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  /** Manual leader election: make instance `id` the leader (service must be `manual`). */
  async setLeader(service: string, id: string): Promise<void> {
    await this.transport.request('PUT', `/services/${seg(service)}/leader`, { body: { id } });
  }

  /** The service meta, or null when none was set (or the service does not exist). */
  async getMeta(service: string, opts: ReadOptions = {}): Promise<ServiceMeta | null> {
    try {
      return (
        (await this.transport.json<ServiceMeta>('GET', `/services/${seg(service)}/meta${q(opts)}`)) ?? null
      );
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  /**
   * Compare-and-set of the service meta (spec §1.4); resolves with the new index. `index: 0`
   * when meta exists fails with 409 `object_exists`; a wrong or missing index with 412
   * `precondition_failed`; a missing service with 404 — all as DiscoverdError.
   */
  async setMeta(service: string, meta: SetMetaRequest): Promise<number> {
    const body: SetMetaRequest = { data: meta.data ?? null, index: meta.index };
    if (meta.leader_id) body.leader_id = meta.leader_id;
    const echoed = await this.transport.json<ServiceMeta>('PUT', `/services/${seg(service)}/meta`, { body });
    return echoed.index;
  }

  /** `host:port` of the Raft leader. */
  async raftLeader(): Promise<string> {
    return (await this.transport.json<{ host: string }>('GET', '/raft/leader')).host;
  }

  /** Raft voters (`host:port`). */
  async raftPeers(): Promise<string[]> {
    return (await this.transport.json<string[]>('GET', '/raft/peers')) ?? [];
  }

  /** Raft learners (`host:port`), an extension of this server. */
  async raftLearners(): Promise<string[]> {
    return (await this.transport.json<string[]>('GET', '/raft/learners')) ?? [];
  }

  /** Adds a peer (as a learner; the leader promotes it). Resolves with the leader's applied index. */
  async raftAddPeer(peer: string): Promise<number> {
    return (await this.transport.json<{ last_index: number }>('PUT', `/raft/peers/${seg(peer)}`)).last_index;
  }

  async raftRemovePeer(peer: string): Promise<void> {
    await this.transport.request('DELETE', `/raft/peers/${seg(peer)}`);
  }

  // ---- registration ----

  /**
   * Registers `addr` in `service` and keeps it alive. Resolves once the first PUT succeeded
   * (retried for ≥ 5 attempts and up to 60 s); the heartbeater then re-PUTs every 3–5 s.
   */
  async register(service: string, addr: string, opts: RegisterOptions = {}): Promise<Heartbeater> {
    const inst = buildInstance(addr, { proto: opts.proto, meta: opts.meta, env: this.env });
    const transport: HeartbeatTransport = {
      put: async (s, i, signal) => {
        await this.transport.request('PUT', `/services/${seg(s)}/instances/${seg(i.id)}`, {
          body: i,
          signal,
        });
      },
      remove: async (s, id) => {
        // On the way out: a cluster that is gone must not hold a shutdown for the whole retry
        // deadline. An instance left behind expires with its TTL anyway.
        await this.transport.request('DELETE', `/services/${seg(s)}/instances/${seg(id)}`, {
          retryDeadlineMs: UNREGISTER_DEADLINE_MS,
          timeoutMs: UNREGISTER_DEADLINE_MS,
        });
      },
    };
    const hb: Heartbeater = new Heartbeater(transport, service, inst, {
      ...this.opts.heartbeat,
      clock: this.clock,
      random: this.opts.random,
      env: this.env,
      onError: opts.onError,
      onClose: () => this.heartbeaters.delete(hb),
    });
    // Tracked from the start, so client.close() also aborts a registration still retrying.
    this.heartbeaters.add(hb);
    try {
      await hb.start();
    } catch (err) {
      this.heartbeaters.delete(hb);
      throw err;
    }
    return hb;
  }

  /** `addService` (an existing service is fine) then `register`. */
  async addServiceAndRegister(
    service: string,
    addr: string,
    opts: RegisterOptions & { leader_type?: LeaderType } = {},
  ): Promise<Heartbeater> {
    try {
      // close() aborts this too: a daemon shutting down must not wait out the retry deadline.
      await this.addService(service, { leader_type: opts.leader_type }, this.closing.signal);
    } catch (err) {
      if (!isObjectExists(err)) throw err;
    }
    return this.register(service, addr, opts);
  }

  // ---- watches ----

  /** Watches every event of `service`, reconnecting and diffing (see Watch). */
  watch(service: string, opts: WatchOptions = {}): Watch {
    const w = new Watch({ transport: this.transport, clock: this.clock }, service, {
      ...this.opts.watch,
      ...opts,
    });
    this.watches.add(w);
    void w.done.then(() => this.watches.delete(w));
    return w;
  }

  /** Leader changes of `service` (`null`: no leader), as an async iterable or via onLeader. */
  leaderWatch(service: string, opts: { onLeader?: (leader: Instance | null) => void } = {}): LeaderWatch {
    const lw = new LeaderWatch({ transport: this.transport, clock: this.clock }, service, opts);
    this.watches.add(lw.watch);
    void lw.watch.done.then(() => this.watches.delete(lw.watch));
    return lw;
  }

  /** Closes every watch and heartbeater this client started (heartbeaters send DELETE). */
  async close(): Promise<void> {
    this.closing.abort(new DiscoverdError({ code: 'closed', message: 'discoverd: client closed' }));
    for (const w of this.watches) w.close();
    this.kv.close();
    await Promise.all([...this.heartbeaters].map((hb) => hb.close()));
  }
}
