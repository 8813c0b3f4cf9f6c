import type { IncomingHttpHeaders } from 'node:http';
import { isTrustedAddress } from './address.js';
import { type AuthDecision, StatusAuth } from './auth.js';
import { CoalescingCache, KeyedCache } from './cache.js';
import { corsHeaders, isPreflight } from './cors.js';
import { goJson, renderEnvelope, type StatusResult, statusCode } from './envelope.js';
import { renderPage, wantsHtml } from './html.js';
import { type Check, type RoundObserver, runChecks } from './runner.js';

// The request rules put together, with no HTTP framework: CORS (preflight first), the key, the
// scope, the cached round, then JSON or the page. apps/status feeds it fastify's requests.

export const ROUTER_HOST_HEADER = 'flynn-router-host';

export type Scope = 'cluster' | 'host';

export interface StatusServiceOptions {
  /** The cluster scope's checks. */
  checks: readonly Check[];
  /** The host scope's checks for one host (its router, discoverd's leader). */
  hostChecks: (hostId: string) => readonly Check[];
  /** This process's own host (HOST_ID), used when no router named the receiving host. */
  hostId?: string;
  /** AUTH_KEY; empty turns the key check off. */
  authKey?: string;
  /** `version` in the envelope; default "dev". */
  version?: string;
  ttlMs?: number;
  timeoutMs?: number;
  /** The cache's clock (ms). */
  now?: () => number;
  observer?: RoundObserver;
  /** Called once per answered request (metrics). */
  onResponse?: (scope: Scope | 'none', code: number) => void;
}

export interface StatusRequest {
  method: string;
  /** The request target (path and query). */
  url: string;
  headers: IncomingHttpHeaders;
  /** The TCP peer address. */
  peer: string | undefined;
}

export interface StatusResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Set when the key check ran (for logs). */
  auth?: AuthDecision;
}

function firstHeader(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function queryParam(url: string, name: string): string | undefined {
  const q = url.indexOf('?');
  if (q < 0) return undefined;
  try {
    return new URLSearchParams(url.slice(q + 1)).get(name) ?? undefined;
  } catch {
    return undefined;
  }
}

export class StatusService {
  readonly auth: StatusAuth;
  readonly version: string;
  private readonly cluster: CoalescingCache<StatusResult>;
  private readonly hosts: KeyedCache<StatusResult>;
  /** The JSON body of each result, rendered once (every request of a round shares it). */
  private readonly bodies = new WeakMap<object, string>();

  constructor(private readonly opts: StatusServiceOptions) {
    this.auth = new StatusAuth(opts.authKey);
    this.version = opts.version ?? 'dev';
    const run = (checks: readonly Check[]) =>
      runChecks(checks, { timeoutMs: opts.timeoutMs, now: opts.now, onResult: opts.observer?.onResult });
    const cacheOpts = { ttlMs: opts.ttlMs, now: opts.now };
    this.cluster = new CoalescingCache(() => run(opts.checks), cacheOpts);
    this.hosts = new KeyedCache((host) => run(opts.hostChecks(host)), cacheOpts);
  }

  /** The cluster scope's result (cached, coalesced). */
  clusterStatus(): Promise<StatusResult> {
    return this.cluster.get();
  }

  /** The host scope's result for `hostId` (cached, coalesced, per host). */
  hostStatus(hostId: string): Promise<StatusResult> {
    return this.hosts.get(hostId);
  }

  /** Rounds of the cluster scope started so far. */
  get clusterRounds(): number {
    return this.cluster.rounds;
  }

  /** Whether a cluster round has completed (readiness). */
  get hasResult(): boolean {
    return this.cluster.peek() !== undefined;
  }

  /** The host a host-scope request is about: the router's header from a trusted peer, else HOST_ID. */
  receivingHost(req: Pick<StatusRequest, 'headers' | 'peer'>): string | undefined {
    const named = firstHeader(req.headers[ROUTER_HOST_HEADER])?.trim();
    // Only a router (a private TCP peer) may name the host; the router overwrites client values.
    if (named && isTrustedAddress(req.peer)) return named;
    return this.opts.hostId || undefined;
  }

  private body(result: Pick<StatusResult, 'healthy' | 'detail'>): string {
    let body = this.bodies.get(result);
    if (body === undefined) {
      body = renderEnvelope(result, this.version);
      this.bodies.set(result, body);
    }
    return body;
  }

  async handle(req: StatusRequest): Promise<StatusResponse> {
    const origin = firstHeader(req.headers.origin);
    const cors = corsHeaders(origin);
    if (isPreflight(req.method, origin)) return { status: 200, headers: cors, body: '' };

    const decision = this.auth.check({
      peer: req.peer,
      forwardedFor: req.headers['x-forwarded-for'],
      authorization: firstHeader(req.headers.authorization),
      url: req.url,
    });
    if (!decision.ok) {
      this.opts.onResponse?.('none', 401);
      return { status: 401, headers: cors, body: '', auth: decision };
    }

    const scopeParam = queryParam(req.url, 'scope');
    const headers: Record<string, string> = { ...cors, 'cache-control': 'no-store', vary: 'Accept' };
    if (scopeParam !== undefined && scopeParam !== 'cluster' && scopeParam !== 'host') {
      this.opts.onResponse?.('none', 400);
      return {
        status: 400,
        headers: { ...headers, 'content-type': 'application/json' },
        body: goJson({
          code: 'validation_error',
          message: `scope must be "cluster" or "host", got ${JSON.stringify(scopeParam)}`,
          retry: false,
        }),
        auth: decision,
      };
    }
    const scope: Scope = scopeParam === 'host' ? 'host' : 'cluster';
    let result: Pick<StatusResult, 'healthy' | 'detail'>;
    let scopeLabel = 'cluster';
    if (scope === 'host') {
      const host = this.receivingHost(req);
      if (host === undefined) {
        result = {
          healthy: false,
          detail: {
            host: {
              status: 'unhealthy',
              reason: 'no receiving host: no Flynn-Router-Host from a router and HOST_ID is not set',
              latency_seconds: 0,
            },
          },
        };
      } else {
        result = await this.hostStatus(host);
        scopeLabel = `host ${host}`;
      }
    } else {
      result = await this.clusterStatus();
    }
    const status = statusCode(result);
    this.opts.onResponse?.(scope, status);
    if (wantsHtml(firstHeader(req.headers.accept))) {
      return {
        status,
        headers: { ...headers, 'content-type': 'text/html; charset=utf-8' },
        body: renderPage(result, { version: this.version, scope: scopeLabel }),
        auth: decision,
      };
    }
    return {
      status,
      headers: { ...headers, 'content-type': 'application/json' },
      body: this.body(result),
      auth: decision,
    };
  }
}
