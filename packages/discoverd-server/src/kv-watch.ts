import type { KvEvent } from '@flynn-edge/discoverd-state';
import { openSse, type SseStream } from '@flynn-edge/service-kit';
import type { FastifyReply } from 'fastify';

// The /kv/ watch streams a node serves: SSE, one event per revision with `id: <revision>`,
// resumable with Last-Event-ID, or `event: compacted` when the local watch history no longer
// reaches back far enough. Values may be TLS private keys: nothing here logs a value.

/** `event: error` text for a watcher dropped because it did not read fast enough. */
export const SLOW_WATCHER = 'discoverd: kv watcher fell behind; resume with Last-Event-ID';

export interface KvWatcherOptions {
  /** `:` comment after this long without a write (default 30 s). */
  keepAliveMs?: number;
  /** Unsent bytes after which a watcher is dropped (default 1 MiB). */
  maxBufferedBytes?: number;
}

interface Watcher {
  prefix: string;
  /** The last revision sent (or the revision the watch started after). */
  last: number;
  stream: SseStream;
}

/** A KvEvent as watchers receive it: lowercase snake_case like the rest of the API. */
function eventJson(e: KvEvent): Record<string, unknown> {
  const out: Record<string, unknown> = { type: e.type, key: e.key };
  if (e.type === 'put') out.value = e.value ?? '';
  if (e.prevRevision !== undefined) out.prev_revision = e.prevRevision;
  return out;
}

/** Splits events (oldest first) into runs of one revision. */
function byRevision(events: readonly KvEvent[]): { revision: number; events: KvEvent[] }[] {
  const out: { revision: number; events: KvEvent[] }[] = [];
  for (const e of events) {
    const last = out[out.length - 1];
    if (last && last.revision === e.revision) last.events.push(e);
    else out.push({ revision: e.revision, events: [e] });
  }
  return out;
}

function frame(revision: number, events: readonly KvEvent[]): string {
  return JSON.stringify({ revision, events: events.map(eventJson) });
}

/**
 * The open KV watch streams of this node. Each SSE event carries every change of one revision
 * under the watcher's prefix (a transaction is seen whole), with `id: <revision>`.
 */
export class KvWatchers {
  private readonly watchers = new Set<Watcher>();
  /** Watchers dropped for reading too slowly. */
  dropped = 0;
  /** Called for each dropped watcher (the metrics counter). */
  onDrop: (() => void) | undefined;

  constructor(private readonly opts: KvWatcherOptions = {}) {}

  get count(): number {
    return this.watchers.size;
  }

  private sse(reply: FastifyReply, onClose?: (overflow: boolean) => void): SseStream {
    return openSse(reply, {
      keepAliveMs: this.opts.keepAliveMs ?? 30_000,
      maxBufferedBytes: this.opts.maxBufferedBytes ?? 1024 * 1024,
      dropMessage: SLOW_WATCHER,
      onClose: (reason) => onClose?.(reason === 'overflow'),
    });
  }

  /** Opens a watch after revision `after`, first sending `backlog` (events after it). */
  open(reply: FastifyReply, prefix: string, after: number, backlog: readonly KvEvent[]): void {
    const w: Watcher = { prefix, last: after, stream: undefined as unknown as SseStream };
    w.stream = this.sse(reply, (overflow) => {
      if (overflow) {
        this.dropped++;
        this.onDrop?.();
      }
      this.watchers.delete(w);
    });
    this.watchers.add(w);
    for (const g of byRevision(backlog)) if (!this.deliver(w, g.revision, frame(g.revision, g.events))) break;
  }

  /** Answers a watch that cannot resume: `event: compacted`, then the stream ends. */
  refuse(reply: FastifyReply, info: { compact_revision: number; revision: number }): void {
    const stream = this.sse(reply);
    stream.send('compacted', JSON.stringify(info));
    stream.close();
  }

  private deliver(w: Watcher, revision: number, data: string): boolean {
    if (revision <= w.last || w.stream.closed) return true;
    w.last = revision;
    return w.stream.send(undefined, data, String(revision));
  }

  /** Live events from the apply path (one applied entry's events, oldest first). */
  publish(events: readonly KvEvent[]): void {
    if (this.watchers.size === 0 || events.length === 0) return;
    for (const g of byRevision(events)) {
      // Watchers on the same prefix share one serialisation.
      const frames = new Map<string, string | null>();
      for (const w of [...this.watchers]) {
        let data = frames.get(w.prefix);
        if (data === undefined) {
          const mine = w.prefix === '' ? g.events : g.events.filter((e) => e.key.startsWith(w.prefix));
          data = mine.length > 0 ? frame(g.revision, mine) : null;
          frames.set(w.prefix, data);
        }
        if (data !== null) this.deliver(w, g.revision, data);
      }
    }
  }

  /**
   * The local history was replaced (a snapshot was installed): events between what watchers
   * saw and the snapshot are gone, so every watcher is told to re-list.
   */
  compactAll(info: { compact_revision: number; revision: number }): void {
    const data = JSON.stringify(info);
    for (const w of [...this.watchers]) {
      w.stream.send('compacted', data);
      w.stream.close();
    }
    this.watchers.clear();
  }

  closeAll(): void {
    for (const w of [...this.watchers]) w.stream.close();
    this.watchers.clear();
  }
}
