import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { SseReader as RawSseReader, waitFor } from '@flynn-edge/testkit';

// Helpers for talking to real discoverd processes over HTTP, SSE and DNS.

export function md5Id(proto: string, addr: string): string {
  return createHash('md5').update(`${proto}-${addr}`).digest('hex');
}

export interface Res {
  status: number;
  headers: Headers;
  text: string;
  json: () => unknown;
}

export async function http(
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
  timeoutMs = 10_000,
): Promise<Res> {
  const init: RequestInit = {
    method,
    headers: { ...headers },
    redirect: 'manual',
    signal: AbortSignal.timeout(timeoutMs),
  };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const r = await fetch(url, init);
  const text = await r.text();
  return { status: r.status, headers: r.headers, text, json: () => JSON.parse(text) };
}

/** Follows 307s by hand, re-sending the body, as Flynn's clients do. */
export async function write(
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
  timeoutMs = 10_000,
): Promise<Res> {
  let target = url;
  for (let i = 0; i < 10; i++) {
    const r = await http(method, target, body, headers, timeoutMs);
    if (r.status !== 307) return r;
    target = r.headers.get('location')!;
  }
  throw new Error('too many redirects');
}

export async function registerInstance(
  base: string,
  service: string,
  addr: string,
  meta?: Record<string, string>,
): Promise<Res> {
  const id = md5Id('tcp', addr);
  return write('PUT', `${base}/services/${service}/instances/${id}`, {
    id,
    addr,
    proto: 'tcp',
    ...(meta ? { meta } : {}),
  });
}

/** An open registry event stream: `data:` events parsed, `event: error` messages apart. */
export class SseReader {
  private readonly raw: RawSseReader;

  constructor(url: string, accept = 'text/event-stream') {
    this.raw = new RawSseReader(url, { accept });
  }

  get contentType(): string {
    return this.raw.contentType;
  }

  get events(): Record<string, unknown>[] {
    return this.raw.messages
      .filter((m) => m.event === undefined)
      .map((m) => JSON.parse(m.data) as Record<string, unknown>);
  }

  get errors(): string[] {
    return this.raw.messages.filter((m) => m.event === 'error').map((m) => m.data);
  }

  kinds(): string[] {
    return this.events.map((e) => String(e.kind));
  }

  async waitForKinds(n: number, timeoutMs = 10_000): Promise<string[]> {
    return waitFor(() => (this.events.length >= n ? this.kinds() : undefined), {
      timeoutMs,
      what: `${n} SSE events`,
    });
  }

  close(): void {
    void this.raw.close();
  }
}

export function dig(
  server: string,
  port: number,
  name: string,
  type: string,
  extra: string[] = [],
): string[] {
  const r = spawnSync(
    'dig',
    [`@${server}`, '-p', String(port), name, type, '+noall', '+answer', '+time=2', '+tries=1', ...extra],
    {
      encoding: 'utf8',
    },
  );
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith(';'));
}
