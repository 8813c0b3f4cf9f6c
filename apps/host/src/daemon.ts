import { readFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { AppStore } from '@flynn-edge/app-model';
import { DiscoverdClient, type Heartbeater } from '@flynn-edge/discoverd-client';
import {
  fetchArtifactFromHosts,
  type Job,
  JobManager,
  type JobSpec,
  JobSpecError,
} from '@flynn-edge/host-jobs';
import {
  createHttpServer,
  createMetrics,
  errors,
  FLYNN_EDGE_VERSION,
  type HttpServer,
  type Logger,
  type Metrics,
  metricsMeta,
  secretKeyHook,
  sendJson,
} from '@flynn-edge/service-kit';
import {
  httpFetchSnapshot,
  probeZfs,
  tryOpenVolumeManager,
  type VolumeManager,
  volumeApiPlugin,
  ZfsUnavailableError,
  zfsReadiness,
} from '@flynn-edge/zfs';
import type { FastifyInstance } from 'fastify';
import { artifactsApiPlugin } from './artifacts-api.js';
import type { DaemonConfig } from './config.js';
import { maskFlags, notifyMainPid, signalReady, startSuccessor, takeListener } from './handover.js';
import { jobsApiPlugin } from './jobs-api.js';
import { logApiPlugin } from './log-api.js';
import { HostLogs } from './logs.js';
import { OmniReconciler } from './omni-reconciler.js';
import { installBase, releaseOf, switchCurrent } from './releases.js';
import { releasesApiPlugin } from './releases-api.js';
import { resourceCheckApiPlugin } from './resource-check-api.js';
import { StateLock } from './state-lock.js';
import { updateApiPlugin } from './update-api.js';

// The flynn-host daemon: one per host, the only component that is not itself a job. It runs the
// jobs, keeps their logs, owns the host's storage, and serves the host API (:1113). It registers
// as `flynn-host` in discoverd (meta: its id and version), so `flynn-host list` and the status
// service find it; once registered it keeps its share of the omni jobs running (omni-reconciler.ts).

export const HOST_VERSION = FLYNN_EDGE_VERSION;

/** Below the log store's 8 MB per-app drop bound, with room for one 1 MiB spool read. */
const LOG_QUEUE_HIGH_WATER = 4 * 1024 * 1024;

/** The host's DNS resolvers (nameserver lines of /etc/resolv.conf), for discoverd's recursion. */
function resolvers(): string[] {
  try {
    return readFileSync('/etc/resolv.conf', 'utf8')
      .split('\n')
      .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
      .filter((x): x is string => x !== undefined);
  } catch {
    return [];
  }
}

/**
 * The installed tree whose `apps/<name>` are the builtin artifacts: this file is
 * `apps/host/dist/daemon.js`.
 */
export const INSTALLED_TREE = fileURLToPath(new URL('../../..', import.meta.url));

/** The tree builtins resolve to: <base>/current for an installed release, else this tree. */
function builtinTree(): string {
  const base = installBase(INSTALLED_TREE);
  return base ? join(base, 'current') : INSTALLED_TREE;
}

/** How long a starting daemon waits for another one on its state directory to exit. */
const STATE_LOCK_WAIT_MS = 60_000;

/** How long a new daemon has to re-adopt the jobs and serve (Flynn's is 30 s too). */
const HANDOVER_TIMEOUT_MS = 30_000;

export interface HostDaemonOptions {
  /** The daemon's command-line flags (argv after `daemon`): /host/status `flags`, an update's args. */
  flags?: string[];
  /** After a handover: the new daemon (`pid`) serves; this one only has to go (main.ts exits). */
  onHandedOver?: (pid: number) => void;
  /** How long a new daemon has to get ready (default 30 s). */
  handoverTimeoutMs?: number;
}

/** How long one `zpool list` answers /host/status's pool health. */
const POOL_HEALTH_TTL_MS = 2000;

export interface HostStatus {
  id: string;
  addrs: string[];
  version: string;
  /** The daemon's process, and its flags (argv after `daemon`): what an update restarts it with. */
  pid: number;
  flags: string[];
  url: string;
  discoverd: string[];
  /** What discoverd's -wait-net-dns reads: no bridge network here, so the host's own /32. */
  network: { external_ip: string; subnet: string; resolvers: string[] };
  log_dir: string;
  /** The filesystem under log_dir, or why statfs failed. */
  log_disk: { total_bytes: number; free_bytes: number } | { error: string };
  /** The ZFS pool behind volumes, with its health as `zpool list` reports it (ONLINE, DEGRADED…). */
  volumes: { enabled: true; pool: string; health: string } | { enabled: false; reason: string };
  jobs: Record<Job['state'], number>;
}

export class HostDaemon {
  readonly client: DiscoverdClient;
  readonly jobs: JobManager;
  private readonly stateLock: StateLock;
  readonly logs: HostLogs;
  readonly api: HttpServer;
  readonly metrics: Metrics;
  readonly omni: OmniReconciler;
  private volumes: VolumeManager | undefined;
  private volumesDisabled = 'volumes are disabled (-no-volumes)';
  private poolHealth: { at: number; answer: Promise<HostStatus['volumes']> } | undefined;
  private registering: Promise<void> | undefined;
  /** Aborted by close() or a handover: wakes the registration loop's back-off sleep. */
  private stopping = new AbortController();
  /** The `flynn-host` registration, once made. */
  private hostHb: Heartbeater | undefined;
  private closed = false;
  /** A handover is under way (writes are refused) or done (this daemon is on its way out). */
  private handover: 'none' | 'busy' | 'done' = 'none';

  constructor(
    readonly config: DaemonConfig,
    private readonly log: Logger,
    private readonly opts: HostDaemonOptions = {},
  ) {
    this.client = new DiscoverdClient({
      servers: config.discoverd,
      clusterKey: config.clusterKey || undefined,
    });
    this.stateLock = new StateLock(config.stateDir);
    this.jobs = new JobManager({
      hostId: config.id,
      stateDir: config.stateDir,
      discoverd: this.client,
      registerHost: config.externalIp,
      portRange: { min: config.jobPorts.start, max: config.jobPorts.end },
      portCheckHost: config.externalIp,
      // Job output waits in its spool while the log store has a few MB queued for the disk.
      accepting: () => !this.logs || this.logs.store.stats().queueBytes < LOG_QUEUE_HIGH_WATER,
      // Every job can find discoverd and knows its host's address (Flynn set both).
      baseEnv: {
        PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
        DISCOVERD: config.discoverd.join(','),
        EXTERNAL_IP: config.externalIp,
      },
      // Through `current` when installed: a builtin started after an update (a redeploy, a
      // router's new workers) runs the release that is current then.
      installDir: builtinTree(),
      clusterKey: config.clusterKey || undefined,
      // A tarball this host lacks comes from another host's store.
      fetchArtifact: async (sha256, store) =>
        fetchArtifactFromHosts(store, sha256, await this.otherHostUrls(), {
          headers: this.peerHeaders(),
          warn: (url, err) => log.warn({ url, err: err.message }, 'artifact fetch failed'),
        }),
    });
    this.jobs.on('warning', (err) => log.warn({ err: err.message }, 'job manager'));
    this.omni = new OmniReconciler({ store: new AppStore(this.client.kv), jobs: this.jobs, log });
    this.metrics = createMetrics('host');
    this.logs = new HostLogs({
      dir: config.logDir,
      hostId: config.id,
      maxBytes: config.logMaxSize,
      jobs: this.jobs,
      client: this.client,
      log,
      metrics: this.metrics,
    });
    const jobsGauge = this.metrics.gauge(
      'flynn_host_jobs',
      'Jobs on this host by state',
      ['state'] as const,
      {
        collect: () => {
          for (const [state, n] of Object.entries(this.jobCounts())) jobsGauge.set({ state }, n);
        },
      },
    );
    const volumesGauge = this.metrics.gauge(
      'flynn_host_volumes',
      'Volumes on this host (snapshots included)',
      [],
      {
        collect: () => {
          volumesGauge.set(this.volumes ? this.volumes.list().length : 0);
        },
      },
    );
    this.api = createHttpServer({
      component: 'host',
      logger: log,
      metrics: this.metrics,
      version: HOST_VERSION,
    });
    const daemon = this;
    this.api.register(async (app: FastifyInstance) => {
      if (config.clusterKey) {
        app.addHook(
          'onRequest',
          secretKeyHook({
            key: config.clusterKey,
            realm: 'flynn-host',
            missing: 'flynn-host: this request needs the cluster key (Authorization: Bearer <key>)',
            wrong: 'flynn-host: invalid cluster key',
          }),
        );
      }
      // While the jobs change hands nothing may start or stop one; reads still answer.
      app.addHook('onRequest', async (req) => {
        // (A second POST /host/update gets handOver's 409 instead.)
        if (
          this.handover !== 'none' &&
          req.method !== 'GET' &&
          req.method !== 'HEAD' &&
          req.url !== '/host/update'
        )
          throw errors.serviceUnavailable('flynn-host: handing over to a new daemon; try again');
      });
      app.get('/host/status', async (_req, reply) => sendJson(reply, 200, await this.status()));
      await app.register(jobsApiPlugin, {
        jobs: this.jobs,
        // In the background: discoverd itself may be the job about to start.
        beforeRun: async (spec) => {
          this.mountVolumes(spec);
          void this.ensureAppRecord(spec.app);
        },
      });
      await app.register(logApiPlugin, { jobs: this.jobs, store: this.logs.store });
      await app.register(artifactsApiPlugin, { store: this.jobs.artifacts });
      await app.register(resourceCheckApiPlugin, { externalIp: config.externalIp });
      await app.register(releasesApiPlugin, { base: installBase(INSTALLED_TREE) });
      await app.register(updateApiPlugin, {
        defaultArgs: () => opts.flags ?? [],
        masked: maskFlags,
        handOver: (path, args) => this.handOver(path, args),
      });
      await app.register(volumeApiPlugin, {
        get manager() {
          return daemon.volumes;
        },
        get unavailableReason() {
          return daemon.volumesDisabled;
        },
        fetchSnapshot: httpFetchSnapshot((hostId) => this.hostUrl(hostId), this.peerHeaders()),
      });
    });
  }

  /**
   * A job's data volumes (`volumes: [{id, env}]`, app-model deploys): each volume's mount path goes
   * into the env var named; the field itself is not part of the job (its env carries the paths).
   */
  private mountVolumes(spec: JobSpec): void {
    const wanted = (spec as JobSpec & { volumes?: unknown }).volumes;
    if (wanted === undefined) return;
    delete (spec as JobSpec & { volumes?: unknown }).volumes;
    if (!Array.isArray(wanted)) throw new JobSpecError('volumes must be a list of {id, env}', 'volumes');
    for (const v of wanted as { id?: unknown; env?: unknown }[]) {
      if (typeof v?.id !== 'string' || typeof v.env !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(v.env)) {
        throw new JobSpecError('each volume needs an id and an env var name', 'volumes');
      }
      if (!this.volumes)
        throw new JobSpecError(`volumes are not available on this host: ${this.volumesDisabled}`, 'volumes');
      const path = this.volumes.mountPath(v.id);
      if (!path) throw new JobSpecError(`volume ${JSON.stringify(v.id)} is not on this host`, 'volumes');
      spec.env = { ...spec.env, [v.env]: path };
    }
  }

  private jobCounts(): Record<Job['state'], number> {
    const counts: Record<Job['state'], number> = { starting: 0, running: 0, done: 0, crashed: 0, failed: 0 };
    for (const j of this.jobs.list()) counts[j.state]++;
    return counts;
  }

  /**
   * The app record `apps/<name>` → {id, name, env} in the cluster store (design.md, app
   * identity): a job started for an app without one creates it, so `flynn -a NAME` resolves.
   * Best effort: a job is not refused because discoverd is away.
   */
  private async ensureAppRecord(app: { id: string; name: string } | undefined): Promise<void> {
    if (!app?.id || !app.name) return;
    for (let attempt = 0; attempt < 60 && !this.closed; attempt++) {
      try {
        if (await this.client.kv.get(`apps/${app.name}`, { stale: true })) return;
        await this.client.kv.put(
          `apps/${app.name}`,
          JSON.stringify({ id: app.id, name: app.name, env: {} }),
          {
            prevRevision: 0,
          },
        );
        return;
      } catch (err) {
        const e = err as { code?: string; message: string };
        if (e.code === 'precondition_failed' || e.code === 'object_exists') return;
        if (attempt === 0)
          this.log.warn({ app: app.name, err: e.message }, 'cannot record the app yet; retrying');
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  }

  get url(): string {
    return `http://${this.config.externalIp}:${this.config.apiPort}`;
  }

  async status(): Promise<HostStatus> {
    const [logDisk, volumes] = await Promise.all([this.logDisk(), this.volumeHealth()]);
    return {
      id: this.config.id,
      addrs: [`${this.config.externalIp}:${this.config.apiPort}`],
      version: HOST_VERSION,
      pid: process.pid,
      // The cluster key is not shown; POST /host/update maps this masked list back to the real one.
      flags: maskFlags(this.opts.flags ?? []),
      url: this.url,
      discoverd: this.client.servers.slice(),
      network: {
        external_ip: this.config.externalIp,
        subnet: `${this.config.externalIp}/32`,
        resolvers: resolvers(),
      },
      // Absolute: collect-debug-info reads flynn-host.log from here.
      log_dir: resolve(this.config.logDir),
      log_disk: logDisk,
      volumes,
      jobs: this.jobCounts(),
    };
  }

  private async logDisk(): Promise<HostStatus['log_disk']> {
    try {
      const s = await statfs(this.config.logDir);
      // bavail, not bfree: what an unprivileged writer can still use.
      return { total_bytes: s.blocks * s.bsize, free_bytes: s.bavail * s.bsize };
    } catch (err) {
      return { error: (err as Error).message };
    }
  }

  /**
   * `zpool list` is a process spawn: health checks polling /host/status every second would pay it
   * each time. One answer serves for POOL_HEALTH_TTL_MS, and concurrent callers share one spawn.
   */
  private volumeHealth(): Promise<HostStatus['volumes']> {
    const manager = this.volumes;
    if (!manager) return Promise.resolve({ enabled: false, reason: this.volumesDisabled });
    const cached = this.poolHealth;
    if (cached && Date.now() - cached.at < POOL_HEALTH_TTL_MS) return cached.answer;
    const answer = manager.driver.listPools().then(
      (pools) => {
        const pool = pools.find((p) => p.name === manager.poolName);
        return { enabled: true as const, pool: manager.poolName, health: pool?.health ?? 'MISSING' };
      },
      (err: Error) => ({
        enabled: true as const,
        pool: manager.poolName,
        health: `UNKNOWN (${err.message})`,
      }),
    );
    this.poolHealth = { at: Date.now(), answer };
    return answer;
  }

  /** The API of another host, from its flynn-host registration. */
  private async hostUrl(hostId: string): Promise<string> {
    const hosts = await this.client.instances('flynn-host');
    const h = hosts.find((i) => i.meta?.id === hostId);
    if (!h) throw new Error(`no host ${JSON.stringify(hostId)} is registered in discoverd`);
    return `http://${h.addr}`;
  }

  /** The APIs of every other host registered in discoverd (none when discoverd is away). */
  private async otherHostUrls(): Promise<string[]> {
    const hosts = await this.client.instances('flynn-host').catch((err: Error) => {
      this.log.warn({ err: err.message }, 'cannot list the other hosts');
      return [];
    });
    return hosts.filter((i) => i.meta?.id !== this.config.id).map((i) => `http://${i.addr}`);
  }

  /** What other hosts' APIs require: the cluster key. */
  private peerHeaders(): Record<string, string> {
    return this.config.clusterKey ? { authorization: `Bearer ${this.config.clusterKey}` } : {};
  }

  /** Volumes need ZFS (a pool, or root and zfs-fuse to make one); without it they are disabled. */
  private async openVolumes(): Promise<void> {
    if (!this.config.volumes) return;
    const r = await tryOpenVolumeManager({
      volPath: this.config.volPath,
      poolName: this.config.zpoolName,
      warn: (m) => this.log.warn(m),
    });
    if (r.manager) {
      this.volumes = r.manager;
      this.log.info({ pool: this.config.zpoolName }, 'volumes enabled');
    } else {
      let why = r.error.message;
      if (r.error instanceof ZfsUnavailableError) {
        // What exactly is missing (not root, no zfs-fuse, its daemon stopped or stuck).
        const readiness = zfsReadiness(await probeZfs());
        if (!readiness.ready) why = readiness.message;
      }
      this.volumesDisabled = `volumes are disabled: ${why}`;
      this.log.warn({ err: why }, 'volumes are disabled (ZFS is not usable here)');
    }
  }

  /**
   * Re-adopts the jobs and serves. `handover`: started by an old daemon (FLYNN_HANDOVER), which
   * hands over its listening socket once the jobs are adopted, instead of binding the port.
   */
  async start(opts: { handover?: boolean } = {}): Promise<void> {
    await this.stateLock.acquire({
      parent: opts.handover ? process.ppid : undefined,
      timeoutMs: STATE_LOCK_WAIT_MS,
      onWait: (pid) =>
        this.log.warn({ pid }, 'waiting for the other flynn-host of this state directory to exit'),
    });
    await this.openVolumes();
    // Lines of re-adopted jobs start flowing in jobs.start(): the log store is listening already.
    await this.jobs.start();
    this.logs.start();
    if (opts.handover) {
      try {
        await this.api.ready();
        await takeListener(this.api.server, HANDOVER_TIMEOUT_MS);
      } catch (err) {
        // Leave the jobs' state and log offsets as a daemon stopping normally would: whoever
        // supervises next (the old daemon, or the one systemd starts) reads on from there.
        await this.jobs.close({ keepRegistrations: true }).catch(() => {});
        await this.logs.close().catch(() => {});
        throw err;
      }
      // Ready first: until the old daemon has heard it, it may still kill this one and take
      // the jobs back, and `current` and systemd must keep naming the old one until then.
      await signalReady();
      // This daemon serves: a restart from now on (systemd, a reboot) must run its release.
      const base = installBase(INSTALLED_TREE);
      const version = releaseOf(base, INSTALLED_TREE);
      if (base && version) await switchCurrent(base, version);
      const notice = await notifyMainPid();
      if (notice) this.log.warn({ err: notice }, 'cannot tell systemd the main pid changed');
    } else {
      await this.api.listen({ host: this.config.externalIp, port: this.config.apiPort });
    }
    // discoverd may itself be a job of this daemon: register in the background, retrying.
    this.registering = this.register(this.stopping.signal);
  }

  /**
   * POST /host/update: stops supervising (state saved, jobs untouched), starts the new daemon at
   * `path` and hands it the listening socket. Once it serves, this daemon stops accepting and
   * `onHandedOver` makes it exit. A new daemon that fails is killed and this one takes the jobs
   * back; the error says why.
   */
  async handOver(path: string, args: string[]): Promise<{ pid: number }> {
    if (this.handover !== 'none') throw errors.conflict('flynn-host: an update is already under way');
    this.handover = 'busy';
    this.log.info({ path, args: maskFlags(args) }, 'handing over to a new daemon');
    let pid: number;
    try {
      await this.pause();
      ({ pid } = await startSuccessor({
        path,
        args,
        server: this.api.server,
        timeoutMs: this.opts.handoverTimeoutMs ?? HANDOVER_TIMEOUT_MS,
      }));
    } catch (err) {
      const why = (err as Error).message;
      this.log.warn({ err: why }, 'handover failed; supervising the jobs again');
      try {
        await this.resume();
      } finally {
        this.handover = 'none';
      }
      throw errors.unknown(`update failed: ${why}`);
    }
    this.handover = 'done';
    // The new daemon accepts on the same socket: this one stops, its open requests finish.
    this.api.server.close();
    this.log.info({ pid }, 'the new daemon serves; exiting');
    this.opts.onHandedOver?.(pid);
    return { pid };
  }

  /** Everything a new daemon takes over stops here; the jobs keep running. */
  private async pause(): Promise<void> {
    await this.omni.close();
    // A registration still retrying (not awaited: it may take long) is undone when it lands.
    this.stopping.abort();
    // The new daemon registers the same instances (same ids) again: this one stops heartbeating
    // them but leaves them in discoverd (no DELETE), so routers keep their backends and no one
    // sees the host go. resume() registers them again if the handover fails.
    await this.hostHb?.release();
    this.hostHb = undefined;
    await this.jobs.close({ keepRegistrations: true });
    await this.logs.shipper.stop();
    await this.logs.store.flush();
  }

  /** After a failed handover: supervise, ship and register again. */
  private async resume(): Promise<void> {
    this.stopping = new AbortController();
    this.stateLock.take();
    await this.jobs.reopen();
    this.logs.start();
    this.registering = this.register(this.stopping.signal);
  }

  private async register(signal: AbortSignal): Promise<void> {
    const addr = `${this.config.externalIp}:${this.config.apiPort}`;
    for (let delay = 500; !this.closed && !signal.aborted; delay = Math.min(delay * 2, 5000)) {
      try {
        const hb = await this.client.addServiceAndRegister('flynn-host', addr, {
          // Its id (flynn-host list), and where Prometheus scrapes it: /metrics on the host API.
          meta: {
            id: this.config.id,
            version: HOST_VERSION,
            ...metricsMeta(addr, { hostId: this.config.id }),
          },
          onError: (err) => this.log.warn({ err: err.message }, 'flynn-host heartbeat failed'),
        });
        if (signal.aborted) {
          // During a handover the successor registers the same instance: leave it in discoverd.
          await (this.handover === 'none' ? hb.close() : hb.release());
          return;
        }
        this.hostHb = hb;
        this.log.info({ addr }, 'registered as flynn-host');
        // Jobs re-adopted by jobs.start() are listed already: the first pass sees them.
        if (!this.closed) this.omni.start();
        return;
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'cannot register in discoverd yet');
        await sleep(delay, undefined, { signal }).catch(() => {});
      }
    }
  }

  /** Stop serving; jobs keep running (a new daemon re-adopts them). */
  async close(): Promise<void> {
    this.closed = true;
    this.stopping.abort();
    // First: no omni job may start while the jobs and the API go away.
    await this.omni.close();
    // The client's close unregisters (heartbeater DELETE) and aborts a registration still
    // retrying, so a daemon without a reachable discoverd stops at once, not after the deadline.
    await this.client.close();
    await this.registering;
    const closing = this.api.close();
    this.api.server.closeAllConnections();
    await closing;
    await this.jobs.close();
    await this.logs.close();
  }
}
