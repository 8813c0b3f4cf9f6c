import type { Step } from './state.js';

// The manifest flynn-edge ships (Flynn's manifest_template.json, for our components): its ports
// are parameters so a cluster on one machine (127.0.0.x, unprivileged ports) can use it too.
// discoverd runs first as bare jobs (its store does not exist yet) and is recorded once it does.

export interface BootstrapPorts {
  discoverd: number;
  dns: number;
  http: number;
  https: number;
  routerApi: number;
}

export const DEFAULT_BOOTSTRAP_PORTS: BootstrapPorts = {
  discoverd: 1111,
  dns: 53,
  http: 80,
  https: 443,
  routerApi: 5000,
};

const DOMAIN = '{{ getenv "CLUSTER_DOMAIN" }}';
const data = (step: string, field = 'Data') => `{{ (index .StepData "${step}").${field} }}`;
const builtin = (name: string) => ({ type: 'builtin', uri: `builtin:${name}` });

export function defaultManifest(overrides: Partial<BootstrapPorts> = {}): Step[] {
  const p = { ...DEFAULT_BOOTSTRAP_PORTS, ...overrides };
  const peers = `{{ range $ip := .SortedHostIPs }}{{ $ip }}:${p.discoverd},{{ end }}`;
  return [
    { id: 'require-env', action: 'require-env', vars: ['CLUSTER_DOMAIN'] },
    {
      id: 'resource-check',
      action: 'resource-check',
      ports: [p.http, p.https, p.discoverd, p.routerApi].map((port) => ({ port, proto: 'tcp' })),
    },
    // A given COOKIE_KEY / STATUS_KEY wins (a cluster on one machine passes its own).
    {
      id: 'router-sticky-key',
      action: 'gen-random',
      length: 32,
      encoding: 'base64',
      data: '{{ getenv "COOKIE_KEY" }}',
    },
    { id: 'status-key', action: 'gen-random', data: '{{ getenv "STATUS_KEY" }}' },
    { id: 'bootstrap-id', action: 'gen-random', encoding: 'uuid' },
    { id: 'controller-cert', action: 'gen-tls-cert', hosts: [DOMAIN, `*.${DOMAIN}`] },
    {
      id: 'discoverd',
      action: 'run-app',
      app: { name: 'discoverd', strategy: 'one-by-one', deploy_timeout: 300 },
      artifact: builtin('discoverd'),
      release: {
        env: { DISCOVERD_PEERS: peers },
        processes: {
          app: {
            args: ['bin/discoverd.js', '-addr', `:${p.discoverd}`, '-dns-addr', `:${p.dns}`],
            omni: true,
          },
        },
      },
      processes: { app: 1 },
    },
    { id: 'wait-hosts', action: 'wait-hosts' },
    { id: 'add-discoverd', action: 'add-app', from_step: 'discoverd' },
    {
      id: 'router',
      action: 'deploy-app',
      app: { name: 'router', strategy: 'one-by-one' },
      artifact: builtin('router'),
      release: {
        env: {
          COOKIE_KEY: data('router-sticky-key'),
          TLSCERT: data('controller-cert', 'Cert'),
          TLSKEY: data('controller-cert', 'PrivateKey'),
        },
        processes: {
          app: {
            args: [
              'bin/router.js',
              '-http-port',
              String(p.http),
              '-https-port',
              String(p.https),
              '-api-port',
              String(p.routerApi),
            ],
            omni: true,
          },
        },
      },
      processes: { app: 1 },
    },
    {
      id: 'logaggregator',
      action: 'deploy-app',
      app: { name: 'logaggregator' },
      artifact: builtin('logaggregator'),
      // PORT_0 is its API, PORT_1 its syslog input; it registers both itself.
      release: {
        env: {},
        processes: { app: { args: ['bin/logaggregator.js'], ports: [{ proto: 'tcp' }, { proto: 'tcp' }] } },
      },
      processes: { app: 2 },
    },
    {
      id: 'status',
      action: 'deploy-app',
      app: { name: 'status' },
      artifact: builtin('status'),
      release: {
        env: { AUTH_KEY: data('status-key') },
        processes: {
          // status registers itself as status-web (with the METRICS_ADDR Prometheus finds): a
          // second registration by its host would fight over the instance's meta.
          web: { args: ['bin/status.js'], ports: [{ proto: 'tcp' }] },
        },
      },
      processes: { web: 2 },
    },
    {
      id: 'controller',
      action: 'deploy-app',
      app: { name: 'controller' },
      artifact: builtin('controller'),
      release: { env: {}, processes: { web: { args: ['bin/controller.js'], ports: [{ proto: 'tcp' }] } } },
      processes: { web: 1 },
    },
    {
      id: 'status-route',
      action: 'add-route',
      app_step: 'status',
      route: { type: 'http', service: 'status-web', domain: `status.${DOMAIN}`, drain_backends: true },
    },
    {
      id: 'controller-route',
      action: 'add-route',
      app_step: 'controller',
      cert_step: 'controller-cert',
      route: { type: 'http', service: 'controller', domain: `controller.${DOMAIN}` },
    },
    { id: 'status-wait', action: 'wait', url: 'http://status-web.discoverd/' },
    { id: 'status-check', action: 'status-check', url: 'http://status-web.discoverd/' },
    {
      id: 'log-complete',
      action: 'log',
      output: [
        'flynn-edge bootstrapping complete. Install the flynn CLI and paste the line below into a terminal window:',
        '',
        `flynn cluster add -p ${data('controller-cert', 'Pin')} default ${DOMAIN} {{ getenv "CLUSTER_KEY" }}`,
        '',
        `export DISCOVERD=${peers} CLUSTER_DOMAIN=${DOMAIN}`,
        `status: https://status.${DOMAIN}/`,
        'key: flynn -a status env get AUTH_KEY',
      ].join('\n'),
    },
  ];
}
