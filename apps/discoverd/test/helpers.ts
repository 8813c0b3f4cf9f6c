import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { waitFor } from '@flynn-edge/testkit';

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

/** An open SSE stream collecting `data:` events and `event: error` messages. */
export class SseReader {
  readonly events: Record<string, unknown>[] = [];
  readonly errors: string[] = [];
  private readonly controller = new AbortController();
  ended = false;
  status = 0;
  contentType = '';

  constructor(url: string, accept = 'text/event-stream') {
    void this.run(url, accept);
  }

  private async run(url: string, accept: string): Promise<void> {
    try {
      const r = await fetch(url, { headers: { accept }, signal: this.controller.signal });
      this.status = r.status;
      this.contentType = r.headers.get('content-type') ?? '';
      const reader = r.body!.getReader();
      const dec = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i = buf.indexOf('\n\n');
        while (i >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const lines = block.split('\n');
          const isError = lines.some((l) => l === 'event: error');
          const data = lines
            .filter((l) => l.startsWith('data: '))
            .map((l) => l.slice(6))
            .join('\n');
          if (isError) this.errors.push(data);
          else if (data) this.events.push(JSON.parse(data) as Record<string, unknown>);
          i = buf.indexOf('\n\n');
        }
      }
    } catch {
      // aborted or connection lost
    }
    this.ended = true;
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
    this.controller.abort();
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
