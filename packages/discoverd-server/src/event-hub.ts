import { openSse, type SseStream } from '@flynn-edge/service-kit';
import type { FastifyReply } from 'fastify';

// Fan-out of registry events to SSE subscribers (spec §1.7). Events are `data: <json>` lines with
// no event name or id. A subscriber that cannot keep up is dropped with Flynn's error message
// instead of buffering without bound: Flynn allowed 64 queued events; we allow the bytes of
// about as many (64 KiB) in the socket's write buffer.

export interface HubEvent {
  service: string;
  kind: string;
}

interface Subscriber {
  kinds: ReadonlySet<string>;
  stream: SseStream;
}

export const BLOCKED_RECEIVER = 'discoverd: channel send failed due to blocked receiver';

export class EventHub {
  private readonly byService = new Map<string, Set<Subscriber>>();
  dropped = 0;

  constructor(private readonly opts: { keepAliveMs?: number; maxBufferedBytes?: number } = {}) {}

  get subscribers(): number {
    let n = 0;
    for (const s of this.byService.values()) n += s.size;
    return n;
  }

  /** Opens an SSE stream for `service`, sends the initial burst, then live events of `kinds`. */
  subscribe(reply: FastifyReply, service: string, kinds: ReadonlySet<string>, initial: HubEvent[]): void {
    const stream = openSse(reply, {
      keepAliveMs: this.opts.keepAliveMs ?? 30_000,
      maxBufferedBytes: this.opts.maxBufferedBytes ?? 64 * 1024,
      dropMessage: BLOCKED_RECEIVER,
      onClose: (reason) => {
        if (reason === 'overflow') this.dropped++;
        this.byService.get(service)?.delete(sub);
      },
    });
    const sub: Subscriber = { kinds, stream };
    for (const e of initial) stream.send(undefined, JSON.stringify(e));
    let set = this.byService.get(service);
    if (!set) {
      set = new Set();
      this.byService.set(service, set);
    }
    set.add(sub);
  }

  publish(events: readonly HubEvent[]): void {
    for (const e of events) {
      const set = this.byService.get(e.service);
      if (!set) continue;
      const data = JSON.stringify(e);
      for (const sub of set)
        if (sub.kinds.has(e.kind) && !sub.stream.closed) sub.stream.send(undefined, data);
    }
  }

  /** Ends every stream (the store is closing). */
  closeAll(): void {
    for (const set of this.byService.values()) for (const sub of set) sub.stream.close();
    this.byService.clear();
  }
}
