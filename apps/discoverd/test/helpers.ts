import { spawnSync } from 'node:child_process';
import { instanceId } from '@flynn-edge/discoverd-state';
import { http, SseReader as RawSseReader, type Res, waitFor, write } from '@flynn-edge/testkit';

// Helpers for talking to real discoverd processes over HTTP, SSE and DNS.

export { instanceId as md5Id } from '@flynn-edge/discoverd-state';
export { http, type Res, write };

export async function registerInstance(
  base: string,
  service: string,
  addr: string,
  meta?: Record<string, string>,
): Promise<Res> {
  const id = instanceId('tcp', addr);
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
