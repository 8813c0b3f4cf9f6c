import type { Clock, TimerHandle } from '@flynn-edge/discoverd-client';
import type { Event, EventKind, Instance } from '@flynn-edge/discoverd-state';
import type { HTTPRoute, TCPRoute } from '@flynn-edge/router-core';
import type { Backend, BackendListener, Logger, ServiceWatch, WatchSource } from '../src/index.js';

// In-memory stand-ins for discoverd and time: a watch source whose streams the test writes,
// and a clock that moves only when told.

export class FakeWatch implements ServiceWatch {
  closed = false;
  readonly done: Promise<Error | undefined>;
  private finish!: (err: Error | undefined) => void;

  constructor(
    readonly service: string,
    private readonly onEvent: (ev: Event) => void,
  ) {
    this.done = new Promise((resolve) => {
      this.finish = resolve;
    });
  }

  private emit(kind: EventKind, instance?: Instance): this {
    if (this.closed) throw new Error(`event on closed watch of ${this.service}`);
    this.onEvent(instance ? { service: this.service, kind, instance } : { service: this.service, kind });
    return this;
  }

  up(inst: Instance): this {
    return this.emit('up', inst);
  }
  update(inst: Instance): this {
    return this.emit('update', inst);
  }
  down(inst: Instance): this {
    return this.emit('down', inst);
  }
  leader(inst?: Instance): this {
    return this.emit('leader', inst);
  }
  current(): this {
    return this.emit('current');
  }

  /** The watch gives up (its reconnect window ran out). */
  giveUp(err = new Error('discoverd unreachable')): void {
    this.closed = true;
    this.finish(err);
  }

  close(): void {
    this.closed = true;
    this.finish(undefined);
  }
}

export class FakeWatchSource implements WatchSource {
  readonly opened: FakeWatch[] = [];

  watch(service: string, opts: { onEvent: (ev: Event) => void }): FakeWatch {
    const w = new FakeWatch(service, opts.onEvent);
    this.opened.push(w);
    return w;
  }

  /** The watches of `service` that are still open. */
  open(service: string): FakeWatch[] {
    return this.opened.filter((w) => w.service === service && !w.closed);
  }

  /** The one open watch of `service`. */
  of(service: string): FakeWatch {
    const open = this.open(service);
    if (open.length !== 1) throw new Error(`${open.length} open watches of ${service}`);
    return open[0];
  }
}

export class ManualClock implements Clock {
  private t = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle as number);
  }

  get pending(): number {
    return this.timers.size;
  }

  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const next = [...this.timers].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
  }
}

/** Lets `watch.done` callbacks run. */
export const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export function inst(id: string, addr: string, meta?: Record<string, string>): Instance {
  return meta ? { id, addr, proto: 'tcp', meta } : { id, addr, proto: 'tcp' };
}

export function recorder(): BackendListener & { events: string[] } {
  const events: string[] = [];
  return {
    events,
    up: (b: Backend) => events.push(`up ${b.service} ${b.addr}`),
    down: (b: Backend) => events.push(`down ${b.service} ${b.addr}`),
  };
}

export function memoryLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (_obj: object, msg?: string) => void lines.push(`${level} ${msg}`);
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}

export const addrs = (bs: readonly Backend[] | undefined): string[] => (bs ?? []).map((b) => b.addr);

const common = { leader: false, created_at: '', updated_at: '', drain_backends: false };

export function httpRoute(
  id: string,
  domain: string,
  service: string,
  extra: Partial<HTTPRoute> = {},
): HTTPRoute {
  return {
    ...common,
    type: 'http',
    id,
    service,
    port: 0,
    domain,
    path: '/',
    sticky: false,
    disable_keep_alives: false,
    ...extra,
  };
}

export function tcpRoute(id: string, port: number, service: string, extra: Partial<TCPRoute> = {}): TCPRoute {
  return { ...common, type: 'tcp', id, service, port, ...extra };
}
