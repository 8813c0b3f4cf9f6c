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
  'accept-policy': {
    type: 'string',
    default: 'kernel',
    usage:
      'how workers share new connections: kernel (each worker accepts from the shared socket) or round-robin (the primary accepts and hands each one over)',
  },
  'max-tls-contexts': { type: 'int', default: 1000, usage: 'per-certificate TLS contexts cached per worker' },
  // Managed certificates (issue 18): the issuer runs when a directory is set.
  'acme-directory-url': {
    type: 'string',
    default: '',
    env: 'ACME_DIRECTORY_URL',
    usage: 'ACME directory of managed certificates; the router runs the (elected) issuer when set',
  },
  'acme-contact': {
    type: 'string',
    default: '',
    env: 'ACME_CONTACT',
    usage: 'comma-separated contact addresses of the ACME account (mailto: added when absent)',
  },
  'acme-terms-agreed': {
    type: 'boolean',
    env: 'ACME_TERMS_AGREED',
    usage: "agree to the ACME directory's terms of service (required by directories that have terms)",
  },
  'acme-ca-file': {
    type: 'string',
    default: '',
    env: 'ACME_CA_FILE',
    usage: "PEM of CA certificates trusted for the ACME directory's HTTPS, besides the system roots",
  },
  'acme-max-in-flight': { type: 'int', default: 5, env: 'ACME_MAX_IN_FLIGHT', usage: 'ACME orders at once' },
  'acme-renew-fraction': {
    type: 'float',
    default: 1 / 3,
    env: 'ACME_RENEW_FRACTION',
    usage: 'renew a managed certificate once less than this share of its lifetime is left',
  },
  'acme-backoff-base': {
    type: 'duration',
    default: '1m',
    env: 'ACME_BACKOFF_BASE',
    usage: 'pause after a failed order, doubled per further failure (each pause ±20%)',
  },
  'acme-backoff-max': {
    type: 'duration',
    default: '24h',
    env: 'ACME_BACKOFF_MAX',
    usage: 'longest pause between attempts at a failed order',
  },
  'acme-poll-interval': {
    type: 'duration',
    default: '10s',
    env: 'ACME_POLL_INTERVAL',
    usage: 'how often the issuer looks at the routes (route changes also wake it)',
  },
  'acme-status-poll': {
    type: 'duration',
    default: '1s',
    env: 'ACME_STATUS_POLL',
    usage: 'first pause while waiting for an ACME order or challenge to change status',
  },
  'acme-order-timeout': {
    type: 'duration',
    default: '10m',
    env: 'ACME_ORDER_TIMEOUT',
    usage: "after this another issuer may take over a route's order even if its owner still runs",
  },
  'acme-http-retries': {
    type: 'int',
    default: 3,
    env: 'ACME_HTTP_RETRIES',
    usage: 'retries of an ACME request that got no answer or a 5xx (a 429 is not retried: the order waits)',
  },
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
  /** Who accepts new connections for the workers (see ACCEPT_POLICIES). */
  acceptPolicy: AcceptPolicy;
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
  /** The ACME issuer's settings; absent when ACME_DIRECTORY_URL is not set. */
  acme?: AcmeConfig;
}

export interface AcmeConfig {
  directoryUrl: string;
  contact: string[];
  termsAgreed: boolean;
  /** Contents of ACME_CA_FILE. */
  caPem?: string;
  maxInFlight: number;
  httpRetries: number;
  /** PROXY_PROTOCOL: the issuer's check of its own router's HTTP port sends a PROXY line. */
  proxyProtocol: boolean;
  timing: {
    renewFraction: number;
    backoffBaseMs: number;
    backoffMaxMs: number;
    pollMs: number;
    statusPollMs: number;
    claimTtlMs: number;
  };
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

/**
 * kernel: the workers accept from the shared listening socket themselves (Node's SCHED_NONE).
 * round-robin: the primary accepts and passes each connection to a worker over IPC (Node's
 * default on Linux), which spreads connections evenly but cost the router 27 % more CPU per
 * new TLS connection (bench/results/router.md). nginx also lets its workers accept.
 */
export const ACCEPT_POLICIES = ['kernel', 'round-robin'] as const;
export type AcceptPolicy = (typeof ACCEPT_POLICIES)[number];

function checkAcceptPolicy(v: string): AcceptPolicy {
  if (!(ACCEPT_POLICIES as readonly string[]).includes(v))
    throw new ConfigError(
      `-accept-policy must be one of ${ACCEPT_POLICIES.join(', ')}: ${JSON.stringify(v)}`,
    );
  return v as AcceptPolicy;
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

function acmeConfig(flags: RouterFlags, proxyProtocol: boolean): AcmeConfig | undefined {
  const url = flags.acmeDirectoryUrl;
  if (!url) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`ACME_DIRECTORY_URL is not a URL: ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
    throw new ConfigError(`ACME_DIRECTORY_URL must be an http or https URL: ${JSON.stringify(url)}`);
  if (flags.acmeMaxInFlight < 1) throw new ConfigError('ACME_MAX_IN_FLIGHT must be at least 1');
  if (!(flags.acmeRenewFraction > 0 && flags.acmeRenewFraction < 1))
    throw new ConfigError('ACME_RENEW_FRACTION must be between 0 and 1');
  if (flags.acmeHttpRetries < 0) throw new ConfigError('ACME_HTTP_RETRIES must not be negative');
  if (flags.acmeBackoffMax < flags.acmeBackoffBase)
    throw new ConfigError('ACME_BACKOFF_MAX must not be shorter than ACME_BACKOFF_BASE');
  let caPem: string | undefined;
  if (flags.acmeCaFile) {
    try {
      caPem = readFileSync(flags.acmeCaFile, 'utf8');
    } catch (err) {
      throw new ConfigError(`ACME_CA_FILE: ${(err as Error).message}`);
    }
  }
  return {
    directoryUrl: url,
    contact: flags.acmeContact
      .split(',')
      .map((c) => c.trim())
      .filter(Boolean),
    termsAgreed: flags.acmeTermsAgreed,
    caPem,
    maxInFlight: flags.acmeMaxInFlight,
    httpRetries: flags.acmeHttpRetries,
    proxyProtocol,
    timing: {
      renewFraction: flags.acmeRenewFraction,
      backoffBaseMs: positiveDuration('acme-backoff-base', flags.acmeBackoffBase),
      backoffMaxMs: positiveDuration('acme-backoff-max', flags.acmeBackoffMax),
      pollMs: positiveDuration('acme-poll-interval', flags.acmePollInterval),
      statusPollMs: positiveDuration('acme-status-poll', flags.acmeStatusPoll),
      claimTtlMs: positiveDuration('acme-order-timeout', flags.acmeOrderTimeout),
    },
  };
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
    acceptPolicy: checkAcceptPolicy(flags.acceptPolicy),
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
    acme: acmeConfig(flags, truthy(env.PROXY_PROTOCOL)),
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
