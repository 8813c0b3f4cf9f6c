import { defineFlags } from '@flynn-edge/service-kit';
import {
  DEFAULT_CANARY_APP,
  DEFAULT_MIN_FREE_BYTES,
  DEFAULT_MIN_FREE_RATIO,
  DEFAULT_RAFT_MAX_LAG,
} from '@flynn-edge/status';
import { COMPONENTS } from './server.js';

// bin/status's flags (Go syntax, service-kit) and the listen-address rule.

export const flagSpec = defineFlags({
  addr: {
    type: 'string',
    default: ':1115',
    env: 'PORT',
    usage: 'listen `addr` (host:port, or a bare port / $PORT for every interface)',
  },
  discoverd: {
    type: 'string',
    env: 'DISCOVERD',
    usage: 'discoverd `servers`, comma-separated (default 127.0.0.1:1111)',
  },
  optional: {
    type: 'string',
    env: 'STATUS_OPTIONAL',
    usage: `comma-separated \`components\` reported but not counted (${COMPONENTS.join(', ')})`,
  },
  disable: {
    type: 'string',
    env: 'STATUS_DISABLE',
    usage: 'comma-separated `components` not checked at all',
  },
  timeout: { type: 'duration', default: '2s', usage: 'deadline of each check' },
  'cache-ttl': { type: 'duration', default: '1s', usage: 'how long a round of checks is served' },
  'raft-max-lag': {
    type: 'int',
    default: DEFAULT_RAFT_MAX_LAG,
    usage: "entries a voter's applied index may trail the leader's commit index",
  },
  'log-disk-min-free-ratio': {
    type: 'float',
    default: DEFAULT_MIN_FREE_RATIO,
    usage: 'share of the log disk that must stay free on every host',
  },
  'log-disk-min-free-bytes': {
    type: 'int',
    default: DEFAULT_MIN_FREE_BYTES,
    usage: 'bytes of the log disk that must stay free on every host',
  },
  'canary-app': { type: 'string', default: DEFAULT_CANARY_APP, usage: 'app id of the logaggregator canary' },
  register: { type: 'boolean', default: true, usage: 'register as status-web in discoverd' },
  'log-level': { type: 'string', usage: 'log `level` (default $LOG_LEVEL or info)' },
});

export function list(v: string | undefined): string[] {
  return (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** `:1115`, `1115` or `host:port` → listen host and port. */
export function parseListenAddr(addr: string): { host: string; port: number } {
  const bare = /^\d+$/.test(addr) ? `:${addr}` : addr;
  const i = bare.lastIndexOf(':');
  const port = Number(bare.slice(i + 1));
  if (i < 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`-addr must be host:port or a port, got ${JSON.stringify(addr)}`);
  }
  const host = bare.slice(0, i).replace(/^\[|\]$/g, '');
  return { host: host || '0.0.0.0', port };
}
