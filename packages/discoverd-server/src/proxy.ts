import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { DnsDataSource, DnsInstance } from '@flynn-edge/discoverd-dns';
import { PeerTrust } from '@flynn-edge/discoverd-state';
import { HttpError } from '@flynn-edge/service-kit';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { fetchFollowing, sendRedirect } from './redirect.js';

// Proxy mode (spec §1.1, §1.2): a host that is not a Raft member answers every HTTP request except
// promote, demote and shutdown with a 307 to a random peer (no Discoverd-* headers), and serves
// DNS from a peer's data over HTTP. Requests that need the cluster key are forwarded instead
// (issue 11): a client must not send the key to a host only a 307 named, and the proxy knows the
// peers.

// /metrics too (not in Flynn): a scrape must see this process, not a peer.
const LOCAL_PATHS = ['/raft/promote', '/raft/demote', '/shutdown', '/metrics'];

export function isLocalOnlyPath(url: string): boolean {
  return LOCAL_PATHS.some((p) => url === p || url.startsWith(`${p}?`) || url.startsWith(`${p}/`));
}

export function pickPeer(peers: readonly string[], self: string, random = Math.random): string | undefined {
  const others = peers.filter((p) => p !== self);
  if (others.length === 0) return undefined;
  return others[Math.floor(random() * others.length)];
}

export function proxyRedirect(
  req: FastifyRequest,
  reply: FastifyReply,
  peers: readonly string[],
  self: string,
): boolean {
  const peer = pickPeer(peers, self);
  if (!peer) return false;
  sendRedirect(reply, req, peer);
  return true;
}

export interface ForwardOptions {
  /** Largest request body read (bytes). */
  bodyLimit: number;
  /** How long to wait for the answer's head. */
  timeoutMs: number;
}

/** Request headers a forwarded request keeps (fetch sets host, length and encoding itself). */
const FORWARDED_HEADERS = ['accept', 'authorization', 'content-type', 'last-event-id', 'user-agent'];

/** Answer headers not relayed: hop-by-hop, re-framed by us, or the peer's Discoverd-* (§1.2). */
function relayed(name: string): boolean {
  return !/^(connection|keep-alive|transfer-encoding|content-length|content-encoding|date|discoverd-)/i.test(
    name,
  );
}

function shuffled<T>(list: readonly T[], random: () => number): T[] {
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function sendRawError(res: ServerResponse, err: HttpError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(err.status, { 'content-type': 'application/json' }).end(JSON.stringify(err.toJSON()));
}

async function readBody(req: FastifyRequest, limit: number): Promise<Buffer | undefined> {
  if (req.method === 'GET' || req.method === 'HEAD') return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req.raw as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpError('request_body_too_big', 'Request body too big');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * Forwards the request to a random peer (the next one on a network error), follows that peer's
 * redirect to the leader itself, and relays the answer, streamed (watches included). Takes over
 * the reply: call it from an onRequest hook and return.
 */
export async function forwardToPeer(
  req: FastifyRequest,
  reply: FastifyReply,
  peers: readonly string[],
  self: string,
  opts: ForwardOptions,
  random = Math.random,
): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  const ctrl = new AbortController();
  res.on('close', () => ctrl.abort());
  let body: Buffer | undefined;
  try {
    body = await readBody(req, opts.bodyLimit);
  } catch (err) {
    sendRawError(
      res,
      err instanceof HttpError ? err : new HttpError('syntax_error', 'unreadable request body'),
    );
    return;
  }
  const headers: Record<string, string> = {};
  for (const name of FORWARDED_HEADERS) {
    const v = req.headers[name];
    if (typeof v === 'string') headers[name] = v;
  }
  const trust = new PeerTrust(peers);
  const timer = setTimeout(() => ctrl.abort(), opts.timeoutMs);
  let lastError = 'no peer known';
  for (const peer of shuffled(
    peers.filter((p) => p !== self),
    random,
  )) {
    let answer: Response;
    try {
      answer = await fetchFollowing(`http://${peer}${req.raw.url ?? '/'}`, {
        method: req.method,
        headers,
        body,
        trust,
        signal: ctrl.signal,
      });
    } catch (err) {
      if (ctrl.signal.aborted) break;
      lastError = `${peer}: ${(err as Error).message}`;
      continue;
    }
    clearTimeout(timer);
    const out: Record<string, string> = {};
    answer.headers.forEach((v, k) => {
      if (relayed(k)) out[k] = v;
    });
    res.writeHead(answer.status, out);
    if (!answer.body || req.method === 'HEAD') {
      res.end();
      return;
    }
    Readable.fromWeb(answer.body as import('node:stream/web').ReadableStream)
      .on('error', () => res.destroy())
      .pipe(res);
    return;
  }
  clearTimeout(timer);
  if (res.destroyed) return;
  sendRawError(
    res,
    new HttpError(
      'service_unavailable',
      ctrl.signal.aborted
        ? 'discoverd: proxy: no answer from the peers in time'
        : `discoverd: proxy: ${lastError}`,
      { retry: true },
    ),
  );
}

/** DNS answers taken from a random peer's HTTP API (GET …/instances and …/leader). */
export class PeerDnsSource implements DnsDataSource {
  constructor(
    private readonly peers: () => readonly string[],
    private readonly self: string,
    private readonly timeoutMs = 2000,
  ) {}

  async instances(service: string): Promise<DnsInstance[] | undefined> {
    const r = await this.get(`/services/${encodeURIComponent(service)}/instances`);
    if (r === 404) return undefined;
    return r as DnsInstance[];
  }

  async leader(service: string): Promise<DnsInstance | undefined> {
    const r = await this.get(`/services/${encodeURIComponent(service)}/leader`);
    if (r === 404) return undefined;
    return r as DnsInstance;
  }

  private async get(path: string): Promise<unknown> {
    const peer = pickPeer(this.peers(), this.self);
    if (!peer) throw new Error('no peer to ask');
    const res = await fetch(`http://${peer}${path}`, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (res.status === 404) return 404;
    if (!res.ok) throw new Error(`peer ${peer} answered ${res.status}`);
    return res.json();
  }
}
