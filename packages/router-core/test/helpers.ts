import { readFileSync } from 'node:fs';
import type { HTTPRoute, Route, TCPRoute } from '../src/index.js';

export function fixture(name: string): string {
  return readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
}

let seq = 0;

export function http(domain: string, path = '/', port = 0, extra: Partial<HTTPRoute> = {}): HTTPRoute {
  seq++;
  return {
    type: 'http',
    id: `h${seq}`,
    service: 'web',
    port,
    leader: false,
    created_at: '2020-01-01T00:00:00Z',
    updated_at: '2020-01-01T00:00:00Z',
    drain_backends: false,
    domain,
    sticky: false,
    path,
    disable_keep_alives: false,
    ...extra,
  };
}

export function tcp(port: number, extra: Partial<TCPRoute> = {}): TCPRoute {
  seq++;
  return {
    type: 'tcp',
    id: `t${seq}`,
    service: 'db',
    port,
    leader: false,
    created_at: '2020-01-01T00:00:00Z',
    updated_at: '2020-01-01T00:00:00Z',
    drain_backends: false,
    ...extra,
  };
}

export type { Route };
