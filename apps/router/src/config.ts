import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { defineFlags, type FlagValues, parseFlags } from '@flynn-edge/service-kit';

// Flynn's router flags and environment (spec §2.1), plus ours: -workers, -cluster-key,
// -access-log, -max-conns and the timeouts. Parsed once in the primary; workers get the resolved
// config as JSON.

export const flagSpec = defineFlags({
  'http-port': { type: 'int', default: 8080, usage: 'first HTTP listener port (Flynn runs 80)' },
  'https-port': { type: 'int', default: 4433, usage: 'first HTTPS listener port (Flynn runs 443)' },
  'tcp-ip': { type: 'string', usage: 'bind IP for TCP routes (default $LISTEN_IP)' },
  'tcp-range-start': { type: 'int', default: 3000, usage: 'first port of the TCP route range' },
  'tcp-range-end': { type: 'int', default: 3500, usage: 'last port of the TCP route range (inclusive)' },
  'tls-cert': { type: 'string', default: '', usage: 'PEM file of the default TLS certificate' },
  'tls-key': { type: 'string', default: '', usage: 'PEM file of the default TLS key' },
  'api-port': { type: 'int', env: 'PORT', default: 5000, usage: 'route API and /metrics port' },
  workers: {
    type: 'int',
    default: -1,
    usage: 'proxy worker processes; 0 = proxy in the primary, -1 = one per CPU',
  },
  'cluster-key': {
    type: 'string',
    default: '',
    env: 'CLUSTER_KEY',
    usage: 'key the route API requires (prefer the CLUSTER_KEY env var)',
  },
  'host-name': {
    type: 'string',
    default: '',
    env: 'FLYNN_HOST_ID',
    usage:
      'this host, sent to backends in Flynn-Router-Host (default: $HOST_ID, which flynn-host gives its jobs, else the machine hostname)',
  },
  'access-log': { type: 'boolean', env: 'ACCESS_LOG', usage: 'log every request as one JSON line' },
  'max-conns': {
    type: 'int',
    default: 10_000,
    usage:
      'client connections per worker; past it the oldest idle or silent one is closed, or the new one if all are busy',
  },
  'idle-timeout': { type: 'duration', default: '5m', usage: 'idle keep-alive timeout' },
  'header-timeout': {
    type: 'duration',
    default: '1m',
    usage: 'time allowed to send a request head (the first one from the accept, TLS handshake included)',
  },
  'response-header-timeout': {
    type: 'duration',
    default: '10m',
    usage: "time a backend has to start its response after the request (Flynn's ResponseHeaderTimeout)",
  },
  'max-tls-contexts': { type: 'int', default: 1000, usage: 'per-certificate TLS contexts cached per worker' },
});

export type RouterFlags = FlagValues<typeof flagSpec>;

/** Everything a router process needs, resolved from flags and environment (JSON-serialisable). */
export interface RouterConfig {
  listenIp: string;
  httpPorts: number[];
  httpsPorts: number[];
  tcpIp: string;
  tcpRange: { start: number; end: number };
  apiPort: number;
  workers: number;
  discoverd: string[];
  clusterKey: string;
  /** base64 of 32 bytes. */
  cookieKey: string;
  proxyProtocol: boolean;
  legacyTls: boolean;
  /** PEM pair of the default certificate, when configured (otherwise the primary generates one). */
  defaultCert?: { certPem: string; keyPem: string };
  error503PageUrl: string;
  /** Flynn-Router-Host; also the HOST_ID meta of the router-api instance (docs/monitoring.md). */
  hostName: string;
  accessLog: boolean;
  debug: boolean;
  maxConnections: number;
  idleTimeoutMs: number;
  headerTimeoutMs: number;
  responseHeaderTimeoutMs: number;
  maxTlsContexts: number;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

function truthy(v: string | undefined): boolean {
  return v === 'true' || v === '1';
}

function portList(name: string, v: string | undefined): number[] {
  if (!v) return [];
  return v.split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 1 || n > 65535)
      throw new ConfigError(`${name}: invalid port ${JSON.stringify(s)}`);
    return n;
  });
}

function optionalPort(name: string, v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new ConfigError(`${name}: invalid port ${JSON.stringify(v)}`);
  return n;
}

/** COOKIE_KEY: standard base64 of exactly 32 bytes (Flynn refuses to start otherwise). */
export function checkCookieKey(v: string | undefined): string {
  if (!v)
    throw new ConfigError('COOKIE_KEY is required (base64 of 32 random bytes: openssl rand -base64 32)');
  const raw = Buffer.from(v, 'base64');
  if (raw.length !== 32 || raw.toString('base64') !== v.replace(/\s+/g, '')) {
    throw new ConfigError(`COOKIE_KEY must be the base64 of exactly 32 bytes (got ${raw.length} bytes)`);
  }
  return raw.toString('base64');
}

/** The host name travels in a header (Flynn-Router-Host): printable ASCII only. */
function checkHostName(v: string): string {
  if (!/^[\x21-\x7e]+$/.test(v))
    throw new ConfigError(`-host-name must be printable ASCII without spaces: ${JSON.stringify(v)}`);
  return v;
}

function positiveDuration(flag: string, ms: number): number {
  if (!(ms > 0)) throw new ConfigError(`-${flag} must be positive`);
  return ms;
}

function defaultCertificate(flags: RouterFlags, env: NodeJS.ProcessEnv): RouterConfig['defaultCert'] {
  if (flags.tlsCert || flags.tlsKey) {
    if (!flags.tlsCert || !flags.tlsKey) throw new ConfigError('-tls-cert and -tls-key go together');
    return { certPem: readFileSync(flags.tlsCert, 'utf8'), keyPem: readFileSync(flags.tlsKey, 'utf8') };
  }
  if (env.TLSCERT || env.TLSKEY) {
    if (!env.TLSCERT || !env.TLSKEY) throw new ConfigError('TLSCERT and TLSKEY go together');
    return { certPem: env.TLSCERT, keyPem: env.TLSKEY };
  }
  return undefined;
}

export function loadConfig(argv: string[], env: NodeJS.ProcessEnv, cpus: number): RouterConfig {
  const { flags } = parseFlags(flagSpec, argv, env);
  // A router job on a flynn-host binds its host's address (EXTERNAL_IP, set for every job), so
  // several hosts on one machine can each run one; standalone, every interface.
  const listenIp = env.LISTEN_IP || env.EXTERNAL_IP || '0.0.0.0';
  const defaultHttp = optionalPort('DEFAULT_HTTP_PORT', env.DEFAULT_HTTP_PORT);
  const defaultHttps = optionalPort('DEFAULT_HTTPS_PORT', env.DEFAULT_HTTPS_PORT);
  if (defaultHttps === 0) throw new ConfigError('DEFAULT_HTTPS_PORT=0: HTTPS cannot be disabled');
  const firstHttp = defaultHttp ?? flags.httpPort;
  // DEFAULT_HTTP_PORT=0 disables plain HTTP, extra ports included (Flynn).
  const httpPorts =
    firstHttp === 0 ? [] : [firstHttp, ...portList('ADDITIONAL_HTTP_PORTS', env.ADDITIONAL_HTTP_PORTS)];
  const httpsPorts = [
    defaultHttps ?? flags.httpsPort,
    ...portList('ADDITIONAL_HTTPS_PORTS', env.ADDITIONAL_HTTPS_PORTS),
  ];
  const tcpRange = { start: flags.tcpRangeStart, end: flags.tcpRangeEnd };
  if (tcpRange.start < 1 || tcpRange.end > 65535 || tcpRange.start > tcpRange.end) {
    throw new ConfigError(`invalid TCP range ${tcpRange.start}-${tcpRange.end}`);
  }
  const servers = (env.DISCOVERD && env.DISCOVERD !== 'none' ? env.DISCOVERD : '127.0.0.1:1111')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return {
    listenIp,
    httpPorts,
    httpsPorts,
    tcpIp: flags.tcpIp || listenIp,
    tcpRange,
    apiPort: flags.apiPort,
    workers: flags.workers < 0 ? Math.max(1, cpus) : flags.workers,
    discoverd: servers,
    clusterKey: flags.clusterKey,
    cookieKey: checkCookieKey(env.COOKIE_KEY),
    proxyProtocol: truthy(env.PROXY_PROTOCOL),
    legacyTls: truthy(env.LEGACY_TLS),
    defaultCert: defaultCertificate(flags, env),
    error503PageUrl: env.ERROR_503_PAGE_URL ?? '',
    hostName: checkHostName(flags.hostName || env.HOST_ID || hostname()),
    accessLog: flags.accessLog,
    debug: truthy(env.DEBUG),
    maxConnections: flags.maxConns,
    idleTimeoutMs: positiveDuration('idle-timeout', flags.idleTimeout),
    headerTimeoutMs: positiveDuration('header-timeout', flags.headerTimeout),
    responseHeaderTimeoutMs: positiveDuration('response-header-timeout', flags.responseHeaderTimeout),
    maxTlsContexts: flags.maxTlsContexts,
  };
}

/** ERROR_503_PAGE_URL: fetched once at start; must answer 200 within 1,000,000 bytes (Flynn). */
export async function fetchErrorPage(url: string): Promise<Buffer | undefined> {
  if (!url) return undefined;
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (res.status !== 200) throw new ConfigError(`ERROR_503_PAGE_URL answered ${res.status}, want 200`);
  const body = Buffer.from(await res.arrayBuffer());
  if (body.length > 1_000_000) throw new ConfigError('ERROR_503_PAGE_URL: the page is over 1,000,000 bytes');
  return body;
}
