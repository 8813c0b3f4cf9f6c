import type { App, AppStore, Artifact, Release } from '@flynn-edge/app-model';
import type { DiscoverdClient } from '@flynn-edge/discoverd-client';
import type { HostApi } from '../host-api.js';
import type { RestoreContext } from '../restore/context.js';

// What the steps share while a bootstrap runs (Flynn's bootstrap.State): the hosts that answered,
// each step's data by step id, and the cluster store once discoverd runs.

/** A manifest step: its id, its action, and the action's own fields. */
export interface Step {
  id: string;
  action: string;
  [field: string]: unknown;
}

/** One event of the run, as `--json` prints it (Flynn's StepInfo). */
export interface StepInfo {
  id: string;
  action: string;
  data?: unknown;
  state: 'start' | 'done' | 'info' | 'error';
  error?: string;
  ts: string;
}

export interface BootstrapConfig {
  /** At least this many hosts must answer (Flynn's --min-hosts). */
  minHosts: number;
  /** Counts capped at 1 (min-hosts 1, or $SINGLETON). */
  singleton: boolean;
  /** How long to wait for the hosts to come online. */
  hostTimeoutMs: number;
  /** How long one job may take to start (and deploys to be up). */
  jobTimeoutMs: number;
  /** `ip` or `ip:port` of each host's API (default port 1113); none: 127.0.0.1:1113. */
  peerIps: string[];
  /** Sent to every host and kept by the cluster; the hosts must run with the same. */
  clusterKey?: string;
  /** Only the steps with these ids (--steps). */
  only?: string[];
  env: Record<string, string | undefined>;
  /** `--from-backup`: the verified backup to restore. */
  restore?: RestoreContext;
}

/** A host that answered: its id, API address and external IP. */
export interface OnlineHost {
  id: string;
  addr: string;
  ip: string;
}

/** What run-app records for a later add-app step. */
export interface RanApp {
  app: App;
  release: Release;
  artifact: Artifact;
  processes: Record<string, number>;
}

export interface State {
  config: BootstrapConfig;
  api: HostApi;
  hosts: OnlineHost[];
  stepData: Record<string, unknown>;
  ranApps: Record<string, RanApp>;
  /** `ip:port` of each discoverd (set by run-app discoverd from DISCOVERD_PEERS). */
  discoverdPeers: string[];
  discoverd?: DiscoverdClient;
  store?: AppStore;
  /** Set by `bootstrap --from-backup`. */
  restore?: RestoreContext;
  /** An `info` line of the running step (what a long step is doing). */
  note?: (message: string) => void;
}

/** The store, or an error naming what is missing: a step that needs it ran before discoverd. */
export function storeOf(state: State): AppStore {
  if (!state.store)
    throw new Error('bootstrap: the cluster store is not running yet (run-app discoverd first)');
  return state.store;
}

export function discoverdOf(state: State): DiscoverdClient {
  if (!state.discoverd) throw new Error('bootstrap: discoverd is not running yet (run-app discoverd first)');
  return state.discoverd;
}

/** IPs of the hosts, sorted as strings (Flynn's .SortedHostIPs). */
export function sortedHostIps(state: State): string[] {
  return state.hosts.map((h) => h.ip).sort();
}
