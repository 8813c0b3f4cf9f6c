import type net from 'node:net';
import { type DnsInstance, DnsServer } from '@flynn-edge/discoverd-dns';
import { type ApplyResult, DiscoverdState } from '@flynn-edge/discoverd-state';
import { RaftServer, type ServerLogger } from '@flynn-edge/raft';
import {
  createHttpServer,
  createMetrics,
  type HttpServer,
  type Logger,
  type Metrics,
} from '@flynn-edge/service-kit';
import { AppliedIndexWaiter } from './applied-index.js';
import { ClusterKey, needsClusterKey } from './cluster-key.js';
import { DiscoverdContext } from './context.js';
import { countByService, type DiscoverdMetrics, registerDiscoverdMetrics } from './discoverd-metrics.js';
import { EventHub } from './event-hub.js';
import { HeartbeatTracker } from './heartbeats.js';
import { kvRoutes } from './kv-routes.js';
import { KvWatchers } from './kv-watch.js';
import { handOffLeadership } from './leader-handoff.js';
import { membershipRoutes } from './membership-routes.js';
import { sendNotify } from './notify.js';
import { createPortMux } from './port-mux.js';
import { prometheusRoutes } from './prometheus-routes.js';
import { forwardToPeer, isLocalOnlyPath, PeerDnsSource, proxyRedirect } from './proxy.js';
import { raftRoutes } from './raft-routes.js';
import { registryRoutes } from './registry-routes.js';
import { SELF_SERVICE, SelfRegistration } from './self-registration.js';

// A discoverd peer: the Raft-replicated registry, its HTTP API and SSE streams, DNS, and the
// leader-local heartbeat expiry, all on one port shared with Raft (first byte 0xFF).

export interface DiscoverdOptions {
  /** Listen address, host:port (`:1111` listens on every IPv4 address). */
  addr: string;
  /** Advertised host; the node's id is `<host>:<port of addr>`. */
  host: string;
  dataDir: string;
  /** Raft voters of a new cluster (host:port; ports are replaced with the port of addr). */
  peers: string[];
  dnsAddr?: string;
  recursors?: string[];
  logger: Logger;
  version?: string;
  ttlMs?: number;
  tickMs?: number;
  electionTicks?: number;
  /** POSTed {job_id, url, dns} once DNS serves and once a leader is known (spec §1.1). */
  notifyUrl?: string;
  /** Lost-quorum recovery: restart as the only voter, from this node's own data. */
  forceNewCluster?: boolean;
  /** When set, writes and membership changes outside Flynn's registry API need it (design.md). */
  clusterKey?: string;
  /** The flynn-host id of this host (flynn-host gives its jobs HOST_ID): meta of the `discoverd` instance. */
  hostId?: string;
  /** Snapshot once this many entries were applied since the last one (default 8,192; tests lower it). */
  snapshotEvery?: number;
  /** At most one snapshot per this many ms (default 30 s). */
  snapshotMinIntervalMs?: number;
  /** A leader that closes hands its leadership over first, for at most this long (default 3 s). */
  handoffTimeoutMs?: number;
}

/** Largest request body (the KV API's values are the largest thing a client sends). */
const BODY_LIMIT = 1024 * 1024;
/** A proxied keyed request may wait for a membership change or `?index=N&wait=60s`. */
const FORWARD_TIMEOUT_MS = 70_000;

export class DiscoverdServer {
  readonly advertised: string;
  readonly state = new DiscoverdState();
  readonly hub = new EventHub();
  readonly kvWatchers = new KvWatchers();
  readonly applied = new AppliedIndexWaiter(() => this.raft?.appliedIndex ?? 0);
  readonly heartbeats: HeartbeatTracker;
  readonly metrics: Metrics;
  raft!: RaftServer<ApplyResult>;
  http!: HttpServer;
  dns: DnsServer | null = null;
  private mux!: net.Server;
  private sweepTimer: NodeJS.Timeout | null = null;
  private selfRegistration: SelfRegistration | undefined;
  private discoverdMetrics!: DiscoverdMetrics;
  private ctx!: DiscoverdContext;
  /** Set once the Raft server has loaded its data: a restore after that is a snapshot from the leader. */
  private raftStarted = false;
  private notifiedLeader = false;
  private promoting = false;
  private closed = false;
  /** The -peers list: where a proxy sends its clients and its DNS questions. */
  private seedPeers: string[] = [];
  private dnsMode: 'peer' | 'proxy' | null = null;

  constructor(private readonly opts: DiscoverdOptions) {
    const port = portOf(opts.addr);
    this.advertised = `${opts.host}:${port}`;
    this.heartbeats = new HeartbeatTracker({ ttlMs: opts.ttlMs });
    this.metrics = createMetrics('discoverd');
  }

  /** The peer list as Flynn computes it: every port replaced by ours, empty means just us. */
  static peerList(peers: string[], addr: string, advertised: string): string[] {
    const port = portOf(addr);
    const list = peers
      .map((p) => p.trim())
      .filter(Boolean)
      .map((p) => `${p.slice(0, p.lastIndexOf(':') > 0 ? p.lastIndexOf(':') : p.length)}:${port}`);
    return list.length > 0 ? [...new Set(list)] : [advertised];
  }

  async start(): Promise<void> {
    const { logger } = this.opts;
    const peers = DiscoverdServer.peerList(this.opts.peers, this.opts.addr, this.advertised);
    this.seedPeers = peers;
    const state = this.state;
    const hub = this.hub;
    const kvWatchers = this.kvWatchers;
    const applied = this.applied;
    this.discoverdMetrics = registerDiscoverdMetrics(this.metrics, {
      raft: () => {
        const st = this.raft?.status();
        return st
          ? {
              term: st.term,
              commit: st.commit,
              applied: st.appliedIndex,
              lastIndex: st.lastIndex,
              isLeader: st.role === 'leader',
            }
          : { term: 0, commit: 0, applied: 0, lastIndex: 0, isLeader: false };
      },
      sseSubscribers: () => this.hub.subscribers,
      instances: () => this.state.stats().instances,
      services: () => this.state.stats().services,
      instancesByService: () => countByService(this.state.instanceKeys()),
    });
    this.raft = await RaftServer.start<ApplyResult>({
      onTiming: (kind, seconds) => this.discoverdMetrics.observeTiming(kind, seconds),
      id: this.advertised,
      dataDir: this.opts.dataDir,
      peers,
      join: !peers.includes(this.advertised),
      forceNewCluster: this.opts.forceNewCluster,
      // Listening on one IP means that IP is ours: dial peers from it as well.
      localAddress: splitListen(this.opts.addr)[0] || undefined,
      clusterKey: this.opts.clusterKey,
      tickMs: this.opts.tickMs ?? 100,
      electionTicks: this.opts.electionTicks ?? 10,
      // Flynn's clients give up after 5 s: answer (503, outcome unknown) before they do.
      proposalTimeoutMs: 4000,
      // Flynn snapshotted every 120 s when 8,192 entries had accumulated; 30 s bounds the log.
      snapshotMinIntervalMs: this.opts.snapshotMinIntervalMs ?? 30_000,
      snapshotEvery: this.opts.snapshotEvery,
      logger: logger as unknown as ServerLogger,
      stateMachine: {
        apply: (index, data) => {
          // state.apply never throws; a failing subscriber must not stop the apply loop either.
          const r = state.apply(index, data);
          try {
            if (r.events.length > 0) hub.publish(r.events);
            if (r.kvEvents.length > 0) kvWatchers.publish(r.kvEvents);
          } catch (err) {
            logger.error({ err: (err as Error).message, index }, 'publishing applied events failed');
          }
          if (!r.ok && r.error.code === 'unknown_error') {
            logger.error({ index, err: r.error.message }, 'log entry could not be applied');
          }
          return r;
        },
        snapshot: () => {
          const data = state.snapshot();
          this.discoverdMetrics.snapshot('local', data.byteLength);
          return data;
        },
        snapshotAsync: async () => {
          const data = await state.snapshotSliced(() => new Promise((resolve) => setImmediate(resolve)));
          this.discoverdMetrics.snapshot('local', data.byteLength);
          return data;
        },
        restore: (index, data) => {
          state.restore(index, data);
          this.discoverdMetrics.snapshot(this.raftStarted ? 'leader' : null, data.byteLength);
          // The watch history restarts at the snapshot: open KV watches must re-list.
          kvWatchers.compactAll({
            compact_revision: state.kvCompactedRevision(),
            revision: state.kvRevision(),
          });
        },
      },
    });
    this.raftStarted = true;
    this.raft.on('applied', () => applied.advanced());
    this.raft.on('leader', (leader, term) => {
      logger.info({ leader, term }, 'raft leader changed');
      this.discoverdMetrics.leaderChanges.inc();
      if (leader && !this.notifiedLeader) {
        this.notifiedLeader = true;
        this.notify();
      }
      this.heartbeats.setLeader(leader === this.advertised);
    });
    this.raft.on('fatal', (err) => {
      logger.fatal({ err: err.message }, 'raft storage failed; exiting');
      process.exit(1);
    });

    const ctx = new DiscoverdContext(state, this.raft, hub, this.heartbeats, this.advertised, (r) =>
      this.discoverdMetrics.proposal(r),
    );
    this.ctx = ctx;
    this.http = createHttpServer({
      component: 'discoverd',
      bodyLimit: BODY_LIMIT,
      logger,
      metrics: this.metrics,
      version: this.opts.version,
    });
    // The key is checked first, also on a proxy: it then forwards only requests that carry it.
    const clusterKey = this.opts.clusterKey ? new ClusterKey(this.opts.clusterKey) : undefined;
    if (clusterKey) this.http.addHook('onRequest', clusterKey.hook());
    this.http.addHook('onRequest', async (req, reply) => {
      // A proxy sends everything but promote, demote and shutdown to a peer: a 307, or for a
      // keyed request a forward (a client must not send the key where a 307 points).
      if (this.mode !== 'proxy' || isLocalOnlyPath(req.url)) return;
      if (clusterKey && needsClusterKey(req)) {
        await forwardToPeer(req, reply, this.redirectPeers(), this.advertised, {
          bodyLimit: BODY_LIMIT,
          timeoutMs: FORWARD_TIMEOUT_MS,
        });
        return reply;
      }
      if (proxyRedirect(req, reply, this.redirectPeers(), this.advertised)) return reply;
    });
    this.http.addHook('onSend', async (_req, reply, payload) => {
      if (this.mode === 'proxy') return payload;
      // Both spellings: Flynn's server sent Discoverd-*, its Go client read Discoverd-Current-*.
      const peersHeader = this.raft.membership.voters.join(',');
      const index = String(this.raft.appliedIndex);
      reply.header('Discoverd-Peers', peersHeader);
      reply.header('Discoverd-Index', index);
      reply.header('Discoverd-Current-Peers', peersHeader);
      reply.header('Discoverd-Current-Index', index);
      return payload;
    });
    await this.http.register(registryRoutes(ctx, this.applied));
    await this.http.register(
      kvRoutes(ctx, { applied: this.applied, watchers: this.kvWatchers, metrics: this.metrics }),
    );
    await this.http.register(raftRoutes(ctx, () => this.shutdownForUpgrade()));
    await this.http.register(prometheusRoutes(state));
    await this.http.register(
      membershipRoutes({
        self: this.advertised,
        peers: () => this.redirectPeers(),
        isMember: () => this.mode === 'peer',
        isVoter: () => this.raft.membership.voters.includes(this.advertised),
        appliedIndex: () => this.raft.appliedIndex,
        authHeaders: (): Record<string, string> =>
          this.opts.clusterKey ? { authorization: `Bearer ${this.opts.clusterKey}` } : {},
      }),
    );
    await this.http.ready();

    this.mux = createPortMux({
      raft: (socket, head) => this.raft.acceptConnection(socket, head),
      http: (socket) => this.http.server.emit('connection', socket),
    });
    const [host, port] = splitListen(this.opts.addr);
    await new Promise<void>((resolve, reject) => {
      this.mux.once('error', reject);
      this.mux.listen({ host: host || '0.0.0.0', port }, () => resolve());
    });

    if (this.opts.dnsAddr) {
      this.dns = await DnsServer.start({
        addr: this.opts.dnsAddr,
        recursors: this.opts.recursors,
        data: {
          instances: (s) => state.instances(s) as DnsInstance[] | undefined,
          leader: (s) => state.leader(s) as DnsInstance | undefined,
        },
        onError: (err) => logger.warn({ err: err.message }, 'dns'),
      });
      this.syncDnsSource();
      this.notify();
    }
    this.sweepTimer = setInterval(() => void this.sweep(), this.heartbeats.sweepIntervalMs);
    this.selfRegistration = new SelfRegistration({
      advertised: this.advertised,
      hostId: this.opts.hostId,
      state: () => (this.mode !== 'peer' ? 'proxy' : this.raft.leaderId ? 'ready' : 'no-leader'),
      hasService: () => this.state.serviceConfig(SELF_SERVICE) !== undefined,
      onError: (err) => logger.debug({ err: err.message }, 'self-registration failed; retrying'),
    });
    this.selfRegistration.start();
    logger.info({ advertised: this.advertised, peers, dns: this.opts.dnsAddr ?? null }, 'discoverd started');
  }

  /** A member of the Raft configuration (voter or learner) serves; anyone else proxies. */
  get mode(): 'peer' | 'proxy' {
    const { voters, learners } = this.raft.membership;
    return voters.includes(this.advertised) || learners.includes(this.advertised) ? 'peer' : 'proxy';
  }

  /** Where to send a proxied request: the current voters, or the -peers list before we know any. */
  private redirectPeers(): string[] {
    const voters = this.raft.membership.voters;
    return voters.length > 0 ? voters : this.seedPeers;
  }

  /** DNS answers from the local state on a peer, from a peer's HTTP API on a proxy. */
  private syncDnsSource(): void {
    if (!this.dns || this.mode === this.dnsMode) return;
    this.dnsMode = this.mode;
    const state = this.state;
    this.dns.setData(
      this.dnsMode === 'peer'
        ? {
            instances: (s) => state.instances(s) as DnsInstance[] | undefined,
            leader: (s) => state.leader(s) as DnsInstance | undefined,
          }
        : new PeerDnsSource(() => this.redirectPeers(), this.advertised),
    );
    this.opts.logger.info({ mode: this.dnsMode }, 'dns data source');
  }

  /** Once a second on the leader: expire silent instances, promote caught-up learners. */
  private async sweep(): Promise<void> {
    this.syncDnsSource();
    if (this.closed || !this.raft.isLeader) {
      this.heartbeats.sweep([]);
      return;
    }
    // During the grace period nothing can expire: skip walking every instance.
    const expired = this.heartbeats.sweep(this.heartbeats.inGrace ? [] : this.state.instanceKeys());
    if (expired.length > 0) {
      this.opts.logger.info({ count: expired.length }, 'expiring instances');
      this.discoverdMetrics.expiries.inc(expired.length);
      try {
        await this.ctx.propose({
          type: 'expireInstances',
          Instances: expired.map((k) => ({ Service: k.service, InstanceID: k.id })),
        });
      } catch (err) {
        this.heartbeats.expiryFailed(expired);
        this.opts.logger.warn({ err: (err as Error).message }, 'expiry not applied');
      }
    }
    await this.promoteCaughtUpLearners();
  }

  private async promoteCaughtUpLearners(): Promise<void> {
    if (this.promoting) return;
    const { learners } = this.raft.membership;
    if (learners.length === 0) return;
    const st = this.raft.status();
    for (const l of learners) {
      const pr = st.progress[l];
      // Caught up: within one heartbeat's worth of the leader's commit.
      if (!pr || pr.match + 16 < st.commit) continue;
      this.promoting = true;
      try {
        await this.raft.changeMembership({ type: 'addVoter', node: l });
        this.opts.logger.info({ peer: l }, 'promoted learner to voter');
      } catch (err) {
        this.opts.logger.warn({ peer: l, err: (err as Error).message }, 'promotion deferred');
      } finally {
        this.promoting = false;
      }
      return;
    }
  }

  private notify(): void {
    const url = this.opts.notifyUrl;
    if (!url) return;
    const body = {
      job_id: process.env.FLYNN_JOB_ID ?? '',
      url: this.redirectPeers().join(','),
      dns: this.opts.dnsAddr ?? '',
    };
    void sendNotify(url, body, (msg, err) =>
      this.opts.logger.warn({ err: (err as Error | undefined)?.message }, msg),
    );
  }

  private async shutdownForUpgrade(): Promise<number> {
    const last = this.raft.status().lastIndex;
    setImmediate(() => void this.close());
    return last;
  }

  /** While serving still: the other voters get a new leader without an election timeout. */
  private async handOffLeadership(): Promise<void> {
    if (!this.raft || !this.ctx) return;
    // Once no leader emerges within two election timeouts, the other voters are gone too.
    const electionMs = (this.opts.tickMs ?? 100) * (this.opts.electionTicks ?? 10);
    const handoff = handOffLeadership(this.raft, this.opts.logger, {
      deadlineMs: this.opts.handoffTimeoutMs,
      leaderlessMs: 2 * electionMs,
    });
    this.ctx.handoff = handoff;
    try {
      await handoff;
    } finally {
      this.ctx.handoff = null;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await this.handOffLeadership();
    await this.selfRegistration?.close();
    this.hub.closeAll();
    this.kvWatchers.closeAll();
    this.applied.close();
    await this.dns?.close();
    this.mux?.close();
    await this.http?.close();
    await this.raft?.stop();
  }
}

function portOf(addr: string): number {
  const port = Number(addr.slice(addr.lastIndexOf(':') + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`bad address ${addr}: want host:port`);
  return port;
}

function splitListen(addr: string): [string, number] {
  const i = addr.lastIndexOf(':');
  return [addr.slice(0, i), portOf(addr)];
}
