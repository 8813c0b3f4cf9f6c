import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDemo } from '@flynn-edge/process-kit';
import { probeZfs, zfsReadiness } from '@flynn-edge/zfs';
import { LocalCluster } from './local-cluster.js';

// `npm start`: the most complete local cluster so far (LocalCluster) on 127.0.0.1-3 with fresh
// keys, then what to try. Ctrl-C stops the jobs, then the daemons.

const env = process.env;
const dir = mkdtempSync(join(tmpdir(), 'flynn-edge-demo-'));
const say = (msg = '') => process.stdout.write(`${msg}\n`);
const port = (name: string, fallback: number) => Number(env[name] ?? fallback);

// Volumes when ZFS answers (root and zfs-fuse, e.g. after .ci/zfs-setup.sh), one pool per host on
// a sparse file in the demo's directory; otherwise the daemons run with -no-volumes, and the
// banner says what is missing.
const readiness = zfsReadiness(await probeZfs());
const zfs = readiness.ready;

const cluster = new LocalCluster({
  hosts: ['127.0.0.1', '127.0.0.2', '127.0.0.3'],
  dir,
  ports: {
    discoverd: port('DEMO_PORT', 1111),
    dns: port('DEMO_DNS_PORT', 5353),
    host: port('DEMO_HOST_PORT', 1113),
    http: port('DEMO_HTTP_PORT', 8080),
    https: port('DEMO_HTTPS_PORT', 8443),
    routerApi: port('DEMO_API_PORT', 5000),
    status: port('DEMO_STATUS_PORT', 1115),
  },
  domain: env.CLUSTER_DOMAIN || 'localflynn.test',
  zfsPoolPrefix: zfs ? `demo${process.pid}` : undefined,
  detached: true,
  progress: (line) => say(`- ${line}`),
});

async function main(): Promise<void> {
  const { hosts, ports, domain, keys } = cluster;
  say(`flynn-edge demo: three flynn-host daemons on ${hosts.join(', ')}; everything else runs as their jobs`);
  say(`state, logs and daemon output in ${dir}\n`);
  say(
    readiness.ready
      ? `- volumes: one ZFS pool per host (${cluster.poolOf(0)}, …) on sparse files in ${dir}`
      : `- volumes: disabled: ${readiness.message}`,
  );
  await cluster.start();

  const router = cluster.routerUrl;
  const cli = 'node apps/cli/bin';
  const demoJob = cluster.jobs.get('demo')?.[0]?.id ?? 'JOB_ID';
  say('\nKeys (fresh for this run):');
  say(`  CLUSTER_KEY=${keys.clusterKey}`);
  say(`  AUTH_KEY=${keys.authKey}      # the status page's key for requests from public addresses`);
  say(`  COOKIE_KEY=${keys.cookieKey}`);
  say(
    `\nTry it (Ctrl-C stops everything). First: export DISCOVERD=${cluster.discoverd} CLUSTER_KEY=${keys.clusterKey}`,
  );
  say(`  curl -s -H 'Host: demo.${domain}' ${router}/`);
  say(
    `  curl -sk --resolve demo.${domain}:${ports.https}:${hosts[0]} https://demo.${domain}:${ports.https}/`,
  );
  if (cluster.hasStatus) {
    say(`  curl -s -H 'Host: status.${domain}' ${router}/            # cluster health (JSON)`);
    say(`  curl -s -H 'Host: status.${domain}' '${router}/?scope=host'  # this host, for DNS health checks`);
    say(
      `  status page in a browser: http://status.${domain}:${ports.http}/?key=${keys.authKey}  (map status.${domain} to ${hosts[0]} in /etc/hosts)`,
    );
  }
  say('\nThe demo app was deployed the way an operator deploys one:');
  for (const args of cluster.demoCommands()) say(`  ${cli}/flynn.js ${args.join(' ')}`);
  say('\nMore to try:');
  say(`  ${cli}/flynn.js apps                              # the system apps and the demo`);
  say(`  ${cli}/flynn.js -a demo ps                        # its two jobs, on two hosts`);
  say(`  ${cli}/flynn.js -a demo env set GREETING=hi       # a new release, deployed with no failed request`);
  say(`  ${cli}/flynn.js -a demo route                     # its routes`);
  say(`  ${cli}/flynn.js -a status env get AUTH_KEY        # the status key`);
  say(`  ${cli}/flynn.js -a router ps                      # one router per host`);
  say(`  ${cli}/flynn-host.js ps -a                      # every job on every host`);
  say(`  ${cli}/flynn.js cluster backup --file ${cluster.dir}/backup.tar   # the whole cluster, restorable`);
  say(`  ${cli}/flynn-host.js bootstrap --from-backup ${cluster.dir}/backup.tar --verify-only`);
  say(`  ${cli}/flynn.js -a demo export --file ${cluster.dir}/demo.tar     # one app, to import elsewhere`);
  say('\nFrom outside the cluster (HTTPS to controller.<domain> through a router, the certificate pinned):');
  say(`  ${cli}/flynn.js ${cluster.clusterAddCommand().join(' ')}`);
  say(`  env -u DISCOVERD -u CLUSTER_KEY ${cli}/flynn.js -a demo ps`);
  say(`  ${cli}/flynn-host.js list                       # hosts and their Raft role`);
  say(`  ${cli}/flynn-host.js log -f ${demoJob}`);
  say(`  ${cli}/flynn.js -a demo log -f                 # the app's lines from the aggregator`);
  say(`  ${cli}/flynn-host.js inspect ${demoJob}   # one job; secret env values masked (--env-value NAME)`);
  say(`  curl -s ${cluster.routerApi}/metrics | grep flynn_router_requests_total`);
  say(
    `  ${cli}/flynn-host.js collect-debug-info       # a tarball; each host's log dir from its API, or --log-dir ${join(dir, 'host1', 'logs')}`,
  );
  if (zfs) say(`  ${cli}/flynn-host.js volume create --host ${hosts[1]}:${ports.host}`);
}

runDemo(
  main,
  async () => {
    say('\nstopping the cluster:');
    await cluster.close();
  },
  dir,
);
