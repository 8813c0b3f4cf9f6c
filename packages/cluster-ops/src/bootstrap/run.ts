import { HostApi } from '../host-api.js';
import { restoreSteps } from '../restore/steps.js';
import { ACTIONS } from './actions/index.js';
import { parseManifest } from './manifest.js';
import { waitOnlineHosts } from './online-hosts.js';
import type { Logger } from './output.js';
import { type BootstrapConfig, type OnlineHost, type State, type Step, sortedHostIps } from './state.js';
import { renderDeep } from './template.js';

// The step runner (Flynn's Manifest.Run): parse the manifest, wait for the hosts (the
// `check online-hosts` step), refuse hosts that already run a cluster, then each step in order:
// its templates rendered, its action run, `start`/`done`/`error` reported. The first error ends
// the run.

/** A failure already reported as a step's error event (the CLI prints nothing more). */
export class StepFailed extends Error {
  constructor(
    readonly step: { id: string; action: string },
    message: string,
  ) {
    super(message);
    this.name = 'StepFailed';
  }
}

export interface BootstrapResult {
  hosts: OnlineHost[];
  stepData: Record<string, unknown>;
  discoverdPeers: string[];
  ms: number;
}

/** Checks that need no host; throws a plain Error with Flynn's message. */
export function checkConfig(config: BootstrapConfig): void {
  if (!Number.isInteger(config.minHosts) || config.minHosts < 1) throw new Error('invalid --min-hosts value');
  if (config.minHosts === 2) {
    throw new Error('the minimum number of hosts for a multi-node cluster is 3, min-hosts=2 is invalid');
  }
}

export async function runBootstrap(
  manifestText: string,
  config: BootstrapConfig,
  log: Logger,
): Promise<BootstrapResult> {
  const t0 = Date.now();
  const parsed = parseManifest(manifestText, config.only);
  const steps = config.restore ? restoreSteps(parsed) : parsed;
  checkConfig(config);
  const state: State = {
    config,
    api: new HostApi([], config.clusterKey),
    hosts: [],
    stepData: {},
    ranApps: {},
    discoverdPeers: [],
    restore: config.restore,
  };
  const emit = (
    s: { id: string; action: string },
    ev: 'start' | 'done' | 'info' | 'error',
    extra: object = {},
  ) => log({ id: s.id, action: s.action, ...extra, state: ev, ts: new Date().toISOString() });
  const run = async (s: { id: string; action: string }, f: () => Promise<void>) => {
    emit(s, 'start');
    state.note = (message) => emit(s, 'info', { data: message });
    try {
      await f();
    } catch (err) {
      const msg = (err as Error).message;
      emit(s, 'error', { error: msg });
      throw new StepFailed(s, msg);
    }
    const data = state.stepData[s.id];
    emit(s, 'done', data === undefined ? {} : { data });
  };
  // The discoverd client's timers do not hold the process open; a bootstrap must.
  const keepAlive = setInterval(() => {}, 60_000);
  try {
    await run({ id: 'online-hosts', action: 'check' }, async () => {
      state.hosts = await waitOnlineHosts(state.api, config.peerIps, config.minHosts, config.hostTimeoutMs);
      state.api = new HostApi(state.hosts, config.clusterKey);
      await refuseLiveCluster(state);
    });
    for (const step of steps) await run(step, () => runStep(step, state));
    return {
      hosts: state.hosts,
      stepData: state.stepData,
      discoverdPeers: state.discoverdPeers,
      ms: Date.now() - t0,
    };
  } finally {
    clearInterval(keepAlive);
    await state.discoverd?.close();
  }
}

async function runStep(raw: Step, state: State): Promise<void> {
  let step: Step;
  try {
    step = renderDeep(raw, {
      env: state.config.env,
      stepData: state.stepData,
      singleton: state.config.singleton,
      sortedHostIps: sortedHostIps(state),
    });
  } catch (err) {
    throw new Error(`bootstrap: template in step ${raw.id}: ${(err as Error).message}`);
  }
  await ACTIONS[step.action](step, state);
}

/**
 * (+) Bootstrap needs fresh hosts: one that runs a discoverd job, or whose discoverd answers
 * /raft/leader, belongs to a cluster already (Flynn relied on resource-check to notice).
 */
async function refuseLiveCluster(state: State): Promise<void> {
  for (const host of state.hosts) {
    const status = await state.api.status(host.addr);
    const own = (status.discoverd ?? []).filter((s) =>
      s.replace(/^https?:\/\//, '').startsWith(`${host.ip}:`),
    );
    let leader: string | undefined;
    for (const server of own) {
      try {
        const r = await fetch(`${server.startsWith('http') ? server : `http://${server}`}/raft/leader`, {
          signal: AbortSignal.timeout(1000),
        });
        if (r.ok) leader = ((await r.json()) as { host?: string }).host ?? server;
      } catch {
        // nothing there: fine
      }
    }
    const job = (await state.api.jobs(host)).find(
      (j) =>
        j.app.name === 'discoverd' && !j.stopRequested && (j.state === 'running' || j.state === 'starting'),
    );
    if (leader || job) {
      throw new Error(
        `a cluster is already running on ${host.ip} (discoverd leader ${leader ?? 'unknown'}); bootstrap needs fresh hosts`,
      );
    }
  }
}
