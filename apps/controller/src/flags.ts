import { defineFlags } from '@flynn-edge/service-kit';

// bin/controller's flags (Go syntax, service-kit) and the listen-address rule.

export const DEFAULT_PORT = 1116;

export const flagSpec = defineFlags({
  addr: {
    type: 'string',
    default: `:${DEFAULT_PORT}`,
    env: 'PORT',
    usage: 'gateway listen `addr` (ip:port, or a bare port / $PORT for every interface)',
  },
  'metrics-addr': {
    type: 'string',
    default: '',
    usage:
      'also serve /metrics and /.well-known/status without the key on this `addr` (keep it inside the cluster); empty: only on the gateway, behind the key',
  },
  discoverd: {
    type: 'string',
    env: 'DISCOVERD',
    usage: 'discoverd `servers`, comma-separated (default 127.0.0.1:1111)',
  },
  timeout: { type: 'duration', default: '5s', usage: 'connect and answer timeout of one upstream request' },
  register: { type: 'boolean', default: true, usage: 'register as `controller` in discoverd' },
  'log-level': { type: 'string', usage: 'log `level` (default $LOG_LEVEL or info)' },
});

/** `:1116`, `1116` or `host:port` → listen host and port (host 0.0.0.0 when absent). */
export function parseListenAddr(addr: string, flag = '-addr'): { host: string; port: number } {
  const bare = /^\d+$/.test(addr) ? `:${addr}` : addr;
  const i = bare.lastIndexOf(':');
  const port = Number(bare.slice(i + 1));
  if (i < 0 || bare.slice(i + 1) === '' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`${flag} must be host:port or a port, got ${JSON.stringify(addr)}`);
  }
  const host = bare.slice(0, i).replace(/^\[|\]$/g, '');
  return { host: host || '0.0.0.0', port };
}

/** The address others reach a listener at: its own host, or EXTERNAL_IP for a wildcard. */
export function advertised(
  listen: { host: string; port: number },
  externalIp: string | undefined,
): string | undefined {
  const wildcard = listen.host === '0.0.0.0' || listen.host === '::';
  const host = wildcard ? externalIp : listen.host;
  if (!host) return undefined;
  return host.includes(':') ? `[${host}]:${listen.port}` : `${host}:${listen.port}`;
}

export function list(v: string | undefined): string[] {
  return (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
