import { type Event, type EventKind, type Instance, instanceEqual } from '@flynn-edge/discoverd-state';
import type { Clock } from './clock.js';
import { DiscoverdError } from './errors.js';
import type { Transport } from './http.js';
import { type ReconnectTiming, runResumableStream } from './resumable.js';
import { decodeSseJson } from './sse.js';

// A service watch over `GET /services/:s` (all kinds, with a `current` marker), reconnecting
// when the stream ends and diffing what the new stream says against what the consumer has already
// been told (spec §1.8), so a reconnect produces exactly the changes that happened meanwhile.

/**
 * The diffing half of a watch, pure: feed it the server's events, it returns the events to hand
 * to the consumer.
 *
 * - `up`/`update` for an unknown instance is emitted as `up`, for a changed one as `update`, for
 *   an unchanged one not at all (the initial burst after a reconnect repeats every instance).
 * - `down` is emitted for known instances only.
 * - `leader` and `service_meta` repeating what was last emitted (same instance id and index, same
 *   meta index) are suppressed.
 * - After `resync()` (a new connection), the next `current` emits `down` for every instance the
 *   new stream did not mention, and — doing better than Flynn — a `leader` event without instance
 *   when the consumer knew a leader but the new stream named none. `current` itself is emitted
 *   once per watch.
 */
export class WatchDiffer {
  private readonly instances = new Map<string, Instance>();
  /** undefined: never told; null: told "no leader". */
  private leader: Instance | null | undefined;
  private metaIndex: number | undefined;
  private currentSent = false;
  private syncing = false;
  private seen = new Set<string>();
  private leaderSeen = false;

  constructor(readonly service: string) {}

  /** Instances the consumer currently knows, by id. */
  get state(): ReadonlyMap<string, Instance> {
    return this.instances;
  }

  get currentLeader(): Instance | null | undefined {
    return this.leader;
  }

  get isCurrent(): boolean {
    return this.currentSent;
  }

  /** A new stream is starting: its initial burst is compared with what we know. */
  resync(): void {
    this.syncing = true;
    this.seen = new Set();
    this.leaderSeen = false;
  }

  apply(ev: Event): Event[] {
    switch (ev.kind) {
      case 'up':
      case 'update': {
        const inst = ev.instance;
        if (!inst) return [];
        this.seen.add(inst.id);
        const known = this.instances.get(inst.id);
        this.instances.set(inst.id, inst);
        if (known && instanceEqual(known, inst)) return [];
        return [{ ...ev, kind: known ? 'update' : 'up' }];
      }
      case 'down': {
        const inst = ev.instance;
        if (!inst || !this.instances.has(inst.id)) return [];
        this.instances.delete(inst.id);
        this.seen.delete(inst.id);
        return [ev];
      }
      case 'leader': {
        this.leaderSeen = true;
        const next = ev.instance ?? null;
        if (this.leader !== undefined && sameLeader(this.leader, next)) return [];
        this.leader = next;
        return [ev];
      }
      case 'service_meta': {
        const meta = ev.service_meta;
        if (!meta) return [];
        if (this.metaIndex === meta.index) return [];
        this.metaIndex = meta.index;
        return [ev];
      }
      case 'current': {
        const out: Event[] = [];
        if (this.syncing) {
          this.syncing = false;
          for (const [id, inst] of [...this.instances]) {
            if (this.seen.has(id)) continue;
            this.instances.delete(id);
            out.push({ service: ev.service, kind: 'down', instance: inst });
          }
          if (!this.leaderSeen && this.leader) {
            this.leader = null;
            out.push({ service: ev.service, kind: 'leader' });
          }
        }
        if (!this.currentSent) {
          this.currentSent = true;
          out.push(ev);
        }
        return out;
      }
      default:
        return [];
    }
  }
}

function sameLeader(a: Instance | null, b: Instance | null): boolean {
  if (a === null || b === null) return a === b;
  return a.id === b.id && (a.index ?? 0) === (b.index ?? 0);
}

/** A small unbounded queue behind an async iterator. */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private readonly waiters: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void }[] = [];
  private ended = false;
  private error: unknown;

  push(item: T): void {
    if (this.ended) return;
    const w = this.waiters.shift();
    if (w) w.resolve({ value: item, done: false });
    else this.items.push(item);
  }

  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.error = error;
    for (const w of this.waiters.splice(0)) {
      if (error !== undefined) w.reject(error);
      else w.resolve({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (this.items.length > 0) return Promise.resolve({ value: this.items.shift() as T, done: false });
    if (this.ended) {
      return this.error !== undefined
        ? Promise.reject(this.error)
        : Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => this.next(),
      return: async () => {
        this.end();
        return { value: undefined, done: true };
      },
    };
  }
}

/** Reconnect timing: Flynn's 30 s window and 200 ms pause (see ReconnectTiming). */
export interface WatchOptions extends ReconnectTiming {
  /** Kinds handed to the consumer (default: all). The stream always carries every kind. */
  kinds?: readonly EventKind[];
  onEvent?: (event: Event) => void;
  /** Called once when the watch gives up (reconnect window exhausted). */
  onError?: (err: Error) => void;
  /** Buffer events for `for await` (default: true when no onEvent is given). */
  iterate?: boolean;
}

export interface WatchDeps {
  transport: Transport;
  clock: Clock;
}

/** A running service watch. */
export class Watch implements AsyncIterable<Event> {
  readonly service: string;
  /** Resolves when the first `current` arrives; rejects if the watch ends before that. */
  readonly current: Promise<void>;
  /** Resolves when the watch has stopped (closed, or given up: then with the error). */
  readonly done: Promise<Error | undefined>;
  /** Number of streams opened so far (1 after the first connection). */
  connections = 0;
  /** The server the current stream comes from. */
  server: string | undefined;
  private readonly differ: WatchDiffer;
  private readonly kinds: ReadonlySet<EventKind> | undefined;
  private readonly queue: AsyncQueue<Event> | undefined;
  private readonly ctrl = new AbortController();
  private resolveCurrent!: () => void;
  private rejectCurrent!: (err: Error) => void;
  private closed = false;
  private failure: Error | undefined;

  constructor(
    private readonly deps: WatchDeps,
    service: string,
    private readonly opts: WatchOptions = {},
  ) {
    this.service = service;
    this.differ = new WatchDiffer(service);
    this.kinds = opts.kinds ? new Set(opts.kinds) : undefined;
    if (opts.iterate ?? !opts.onEvent) this.queue = new AsyncQueue();
    this.current = new Promise<void>((resolve, reject) => {
      this.resolveCurrent = resolve;
      this.rejectCurrent = reject;
    });
    // Nobody has to await `current`: keep an unobserved rejection from crashing the process.
    this.current.catch(() => {});
    this.done = this.run();
  }

  /** Instances as the consumer has been told them. */
  get instances(): Instance[] {
    return [...this.differ.state.values()].sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
  }

  /** The leader as last emitted (undefined before any leader event). */
  get leader(): Instance | null | undefined {
    return this.differ.currentLeader;
  }

  get error(): Error | undefined {
    return this.failure;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ctrl.abort(new Error('watch closed'));
  }

  [Symbol.asyncIterator](): AsyncIterator<Event> {
    if (!this.queue) throw new Error('this watch delivers to onEvent; pass iterate: true to iterate it');
    return this.queue[Symbol.asyncIterator]();
  }

  private emit(ev: Event): void {
    if (ev.kind === 'current') this.resolveCurrent();
    if (this.kinds && !this.kinds.has(ev.kind)) return;
    this.queue?.push(ev);
    if (!this.opts.onEvent) return;
    try {
      this.opts.onEvent(ev);
    } catch (err) {
      // A consumer's bug must not look like a broken stream (and trigger a reconnect).
      queueMicrotask(() => {
        throw err;
      });
    }
  }

  private async run(): Promise<Error | undefined> {
    const err = await runResumableStream({
      ...this.deps,
      signal: this.ctrl.signal,
      label: 'discoverd: watch stream',
      timing: this.opts,
      // A stream that opens and delivers nothing (a node that cannot serve) keeps counting.
      resetOn: 'message',
      path: () => `/services/${encodeURIComponent(this.service)}`,
      opened: (server) => {
        this.server = server;
        this.connections++;
        this.differ.resync();
      },
      message: (msg) => {
        for (const out of this.differ.apply(decodeSseJson<Event>(msg))) this.emit(out);
      },
    });
    if (err) {
      this.fail(err);
      return this.failure;
    }
    this.finish();
    return undefined;
  }

  private fail(err: Error): void {
    this.closed = true;
    this.failure =
      err instanceof DiscoverdError || err.message.startsWith('Server error')
        ? err
        : new Error(`discoverd: watch of ${this.service} gave up: ${err.message}`, { cause: err });
    this.rejectCurrent(this.failure);
    this.queue?.end(this.failure);
    this.opts.onError?.(this.failure);
  }

  private finish(): void {
    this.rejectCurrent(new Error(`discoverd: watch of ${this.service} closed before current`));
    this.queue?.end();
  }
}

/** Leader changes of one service: `null` means "no leader". */
export class LeaderWatch implements AsyncIterable<Instance | null> {
  private readonly queue = new AsyncQueue<Instance | null>();
  readonly watch: Watch;

  constructor(deps: WatchDeps, service: string, opts: { onLeader?: (leader: Instance | null) => void } = {}) {
    this.watch = new Watch(deps, service, {
      kinds: ['leader'],
      iterate: false,
      onEvent: (ev) => {
        const leader = ev.instance ?? null;
        this.queue.push(leader);
        opts.onLeader?.(leader);
      },
    });
    void this.watch.done.then((err) => this.queue.end(err));
  }

  /** The leader as last reported (undefined before the first report). */
  get leader(): Instance | null | undefined {
    return this.watch.leader;
  }

  /** Resolves once the watch is current; the leader (if any) has been reported by then. */
  get current(): Promise<void> {
    return this.watch.current;
  }

  close(): void {
    this.watch.close();
  }

  [Symbol.asyncIterator](): AsyncIterator<Instance | null> {
    return this.queue[Symbol.asyncIterator]();
  }
}
