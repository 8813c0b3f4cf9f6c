import { type App, AppStore, Deployer, type Versioned } from '@flynn-edge/app-model';
import type { Command } from 'commander';
import { discoverdUrls } from '../discoverd-http.js';
import { CliError } from '../output.js';
import { HttpHosts } from './hosts-http.js';
import { HttpStore } from './store-http.js';
import { type ClusterTarget, directTarget } from './target.js';

// What every app command needs, built from the global flags: the target, the store, the hosts,
// the deployer, and `-a` resolved to the app record.

export interface FlynnGlobals {
  app?: string;
  cluster?: string;
  discoverd?: string[];
  clusterKey?: string;
}

export interface FlynnContext {
  target: ClusterTarget;
  store: AppStore;
  hosts: HttpHosts;
  deployer: Deployer;
  /** `-a`, resolved (by name, or by id); throws when missing or unknown. */
  app(): Promise<Versioned<App>>;
}

export type TargetResolver = (g: FlynnGlobals) => Promise<ClusterTarget>;

let resolver: TargetResolver = async (g) =>
  directTarget(g.discoverd ?? discoverdUrls(undefined), g.clusterKey);

/** flynn.ts installs the one that knows ~/.flynnrc. */
export function setTargetResolver(r: TargetResolver): void {
  resolver = r;
}

export async function contextOf(cmd: Command): Promise<FlynnContext> {
  const g = cmd.optsWithGlobals<FlynnGlobals>();
  const target = await resolver(g);
  const store = new AppStore(new HttpStore(target));
  const hosts = new HttpHosts(target);
  return {
    target,
    store,
    hosts,
    deployer: new Deployer(store, hosts),
    app: async () => {
      if (!g.app) throw new CliError('no app given: pass -a NAME (or set FLYNN_APP)', 2);
      return store.app(g.app);
    },
  };
}
