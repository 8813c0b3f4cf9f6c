import { AppStore, jobRequest } from '@flynn-edge/app-model';
import { DiscoverdClient } from '@flynn-edge/discoverd-client';
import type { OnlineHost, RanApp, State, Step } from '../state.js';
import { appOfStep, scaledCounts } from '../system-apps.js';

// run-app: jobs only, straight on the hosts (discoverd, before any store exists to record it).
// Omni types get one job per host; others go round-robin over the hosts. Each job must be
// running within --job-timeout. run-app discoverd also opens the cluster store for later steps.

export async function runApp(step: Step, state: State): Promise<void> {
  const ran = appOfStep(step, state);
  const counts = scaledCounts(ran, state);
  const plan: { host: OnlineHost; type: string }[] = [];
  let next = 0;
  for (const [type, n] of Object.entries(counts)) {
    if (ran.release.processes[type].omni) {
      for (const host of state.hosts) for (let i = 0; i < n; i++) plan.push({ host, type });
    } else {
      for (let i = 0; i < n; i++) plan.push({ host: state.hosts[next++ % state.hosts.length], type });
    }
  }
  const ids = await Promise.all(
    plan.map(async ({ host, type }) => {
      // The recorded release runs unchanged on any host: discoverd takes its address from
      // EXTERNAL_IP, its data dir from FLYNN_DATA_DIR and its peers from DISCOVERD_PEERS.
      const job = await state.api.run(host, jobRequest(ran.app, ran.release, type, ran.artifact));
      return { host, id: job.id };
    }),
  );
  await Promise.all(ids.map(({ host, id }) => waitRunning(state, host, id)));
  state.ranApps[step.id] = ran;
  if (ran.app.name === 'discoverd') openStore(state, ran);
}

async function waitRunning(state: State, host: OnlineHost, id: string): Promise<void> {
  const deadline = Date.now() + state.config.jobTimeoutMs;
  for (;;) {
    const j = await state.api.job(host, id);
    if (j.state === 'running') return;
    if (j.state !== 'starting' || Date.now() >= deadline) {
      const why =
        j.state === 'starting'
          ? 'timed out waiting for job event'
          : `job ${id} ${j.state}${j.error ? `: ${j.error}` : ''}`;
      throw new Error(`bootstrap: ${why} (host ${host.id})`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function openStore(state: State, ran: RanApp): void {
  state.discoverdPeers = (ran.release.env.DISCOVERD_PEERS ?? '').split(',').filter(Boolean);
  state.discoverd = new DiscoverdClient({
    servers: state.discoverdPeers.map((p) => `http://${p}`),
    clusterKey: state.config.clusterKey,
  });
  state.store = new AppStore(state.discoverd.kv);
}
