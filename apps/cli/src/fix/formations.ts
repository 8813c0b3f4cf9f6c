import {
  AppModelError,
  AppStore,
  Deployer,
  type HostRef,
  type HostsPort,
  reconcileFormation,
} from '@flynn-edge/app-model';
import { HttpHosts } from '../flynn/hosts-http.js';
import { HttpStore } from '../flynn/store-http.js';
import { directTarget } from '../flynn/target.js';
import { CliError } from '../output.js';

// After discoverd: every app back to its formation on the hosts fix found (app-model's
// reconcileFormation), one line per job started. Apps go one at a time, discoverd's first: a
// failure is said and the next app still gets its turn; any failure fails the fix.

/** The deployer's hosts: the ones fix found alive, whatever discoverd still lists. */
class FoundHosts implements HostsPort {
  constructor(
    private readonly found: HostRef[],
    private readonly http: HttpHosts,
  ) {}
  async hosts() {
    return this.found;
  }
  jobs: HostsPort['jobs'] = (h) => this.http.jobs(h);
  job: HostsPort['job'] = (h, id) => this.http.job(h, id);
  run: HostsPort['run'] = (h, spec) => this.http.run(h, spec);
  stop: HostsPort['stop'] = (h, id, o) => this.http.stop(h, id, o);
  lastLines: NonNullable<HostsPort['lastLines']> = (h, id, n) => this.http.lastLines(h, id, n);
}

export async function fixFormations(
  hosts: HostRef[],
  servers: string[],
  clusterKey: string | undefined,
  log: (line: string) => void,
): Promise<void> {
  const target = directTarget(servers, clusterKey);
  const store = new AppStore(new HttpStore(target));
  const deployer = new Deployer(store, new FoundHosts(hosts, new HttpHosts(target)));
  const apps = (await store.apps()).map((a) => a.name);
  apps.sort((a, b) => Number(b === 'discoverd') - Number(a === 'discoverd') || a.localeCompare(b));
  log(`reconciling app formations apps=${apps.length} hosts=${hosts.length}`);
  const failed: string[] = [];
  for (const name of apps) {
    try {
      const res = await reconcileFormation(deployer, name);
      if (res.status === 'locked') log(`${name}: a deploy is in progress, skipped`);
      if (res.status !== 'reconciled') continue;
      for (const p of res.started) log(`${name} ${p.job.processType} ${p.job.id} started on ${p.host.id}`);
    } catch (err) {
      if (!(err instanceof CliError) && !(err instanceof AppModelError)) throw err;
      log(`${name}: ${err.message}`);
      failed.push(name);
    }
  }
  if (failed.length > 0) throw new CliError(`could not restore the formation of ${failed.join(', ')}`);
}
