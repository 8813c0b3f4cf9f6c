// The aggregator's state: one Ring per app id (the syslog APP-NAME), the per-host cursors, live
// subscribers, and counters. Everything runs on the event loop, so a reader that reads the buffer
// and subscribes in the same tick can neither miss nor repeat a message.

import type { Metrics } from '@flynn-edge/service-kit';
import { type Cursor, compareCursor, type LogMessage } from '@flynn-edge/syslog';
import { rfc3339Nano } from './format.js';
import { type Entry, Ring, timeKey } from './ring.js';

export const DEFAULT_BUFFER = 10_000;

const PRINTABLE = /^[\x21-\x7e]{1,255}$/;

/** Bounded reasons for `flynn_logaggregator_messages_dropped_total{reason}`. */
export type DropReason =
  /** a frame whose RFC 5424 message did not parse (no [flynn seq], bad header, …) */
  | 'malformed'
  /** a broken or overlong length prefix: the rest of that connection cannot be decoded */
  | 'framing'
  /** no APP-NAME or no timestamp */
  | 'missing_field'
  /** (hostname, timestamp, seq) already buffered */
  | 'duplicate'
  /** older than everything in a full buffer */
  | 'too_old'
  /** a live follower's queue was full */
  | 'follower_overflow';

export type Subscriber = (e: Entry) => void;

interface Checked {
  timestamp: string;
  key: number;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
}

function printable(v: string, last: Checked, field: 'hostname' | 'appName' | 'procId' | 'msgId'): boolean {
  if (!PRINTABLE.test(v)) return false;
  last[field] = v;
  return true;
}

export interface AggregatorOptions {
  /** Messages kept per app (default 10,000). */
  capacity?: number;
  /** Registers the flynn_logaggregator_* metrics here. */
  metrics?: Metrics;
}

export interface AggregatorStats {
  ingested: number;
  dropped: Record<DropReason, number>;
  buffered: number;
  followers: number;
}

export class Aggregator {
  readonly capacity: number;
  private readonly rings = new Map<string, Ring>();
  private readonly subs = new Map<string, Set<Subscriber>>();
  private readonly cursors = new Map<string, Cursor>();
  private buffered = 0;
  private followerCount = 0;
  readonly stats: AggregatorStats = {
    ingested: 0,
    dropped: {
      malformed: 0,
      framing: 0,
      missing_field: 0,
      duplicate: 0,
      too_old: 0,
      follower_overflow: 0,
    },
    buffered: 0,
    followers: 0,
  };
  private readonly droppedCounter;

  constructor(opts: AggregatorOptions = {}) {
    this.capacity = opts.capacity ?? DEFAULT_BUFFER;
    const metrics = opts.metrics;
    // Mirrors stats.ingested at scrape time (no metrics call per message).
    const stats = this.stats;
    const ingested = metrics?.counter(
      'flynn_logaggregator_messages_ingested_total',
      'Messages stored in an app buffer (from syslog or a peer snapshot).',
      [],
      {
        collect() {
          ingested!.reset();
          ingested!.inc(stats.ingested);
        },
      },
    );
    this.droppedCounter = metrics?.counter(
      'flynn_logaggregator_messages_dropped_total',
      'Messages rejected or not delivered, by reason.',
      ['reason'],
    );
    if (metrics) {
      const self = this;
      metrics.gauge('flynn_logaggregator_buffer_messages', 'Messages held in all app buffers.', [], {
        collect() {
          this.set(self.buffered);
        },
      });
      metrics.gauge('flynn_logaggregator_followers', 'Open follow=true requests.', [], {
        collect() {
          this.set(self.followerCount);
        },
      });
      metrics.gauge('flynn_logaggregator_apps', 'Apps with a buffer.', [], {
        collect() {
          this.set(self.rings.size);
        },
      });
      // Export every reason from the start, so a rate() sees the first drop.
      for (const r of Object.keys(this.stats.dropped)) this.droppedCounter?.inc({ reason: r }, 0);
    }
  }

  drop(reason: DropReason, n = 1): void {
    this.stats.dropped[reason] += n;
    this.droppedCounter?.inc({ reason }, n);
  }

  /**
   * Stores a parsed message: updates its host's cursor, inserts it into its app's ring and hands it
   * to the app's live subscribers. The message is stored as given (copy views first).
   */
  add(m: LogMessage): Entry | undefined {
    // Messages come in runs from one host, app and process with one timestamp: the last checked
    // fields are not checked again.
    const last = this.lastChecked;
    let key: number;
    if (m.timestamp === last.timestamp) key = last.key;
    else {
      key = m.timestamp === '-' ? Number.NaN : timeKey(m.timestamp);
      if (!Number.isNaN(key)) {
        last.timestamp = m.timestamp;
        last.key = key;
      }
    }
    if (m.appName === '-' || m.appName === '' || Number.isNaN(key)) {
      this.drop('missing_field');
      return undefined;
    }
    // RFC 5424 header fields are printable US-ASCII; anything else could not be re-encoded.
    if (
      !(m.hostname === last.hostname || printable(m.hostname, last, 'hostname')) ||
      !(m.appName === last.appName || printable(m.appName, last, 'appName')) ||
      !(m.procId === last.procId || printable(m.procId, last, 'procId')) ||
      !(m.msgId === last.msgId || printable(m.msgId, last, 'msgId'))
    ) {
      this.drop('malformed');
      return undefined;
    }
    let ring = this.rings.get(m.appName);
    if (!ring) {
      ring = new Ring(this.capacity);
      this.rings.set(m.appName, ring);
    }
    this.advanceCursor(m.hostname, { time: m.timestamp, seq: m.seq });
    const entry: Entry = { m, key };
    const { result, evicted } = ring.insert(entry);
    if (result !== 'stored') {
      this.drop(result);
      return undefined;
    }
    if (!evicted) this.buffered++;
    this.stats.ingested++;
    this.stats.buffered = this.buffered;
    const subs = this.subs.get(m.appName);
    if (subs) for (const fn of subs) fn(entry);
    return entry;
  }

  private readonly lastChecked: Checked = {
    timestamp: '',
    key: 0,
    hostname: '',
    appName: '',
    procId: '',
    msgId: '',
  };

  /** Raises a host's cursor to `c` if it is newer (never lowers it). */
  advanceCursor(host: string, c: Cursor): void {
    const cur = this.cursors.get(host);
    try {
      if (cur === undefined || compareCursor(c, cur) > 0)
        this.cursors.set(host, { time: c.time, seq: c.seq });
    } catch {
      // an unparseable time never becomes a cursor
    }
  }

  /** `{"<host>": {"time": RFC3339Nano, "seq": n}}` as GET /cursors answers. */
  cursorsJSON(): Record<string, Cursor> {
    const out: Record<string, Cursor> = {};
    for (const [host, c] of this.cursors) out[host] = { time: rfc3339Nano(c.time), seq: c.seq };
    return out;
  }

  /** Cursors as stored (timestamps as written), for snapshots. */
  rawCursors(): Record<string, Cursor> {
    return Object.fromEntries(this.cursors);
  }

  ring(app: string): Ring | undefined {
    return this.rings.get(app);
  }

  apps(): string[] {
    return [...this.rings.keys()];
  }

  /** The last `n` matching messages of `app` (all when n <= 0), oldest first. */
  read(app: string, n: number, match: (e: Entry) => boolean = () => true): Entry[] {
    return this.rings.get(app)?.lastMatching(n, match) ?? [];
  }

  /** Calls `fn` for every message stored for `app` from now on; returns the unsubscribe function. */
  subscribe(app: string, fn: Subscriber, opts: { follower?: boolean } = {}): () => void {
    let set = this.subs.get(app);
    if (!set) {
      set = new Set();
      this.subs.set(app, set);
    }
    set.add(fn);
    if (opts.follower) this.followerCount++;
    this.stats.followers = this.followerCount;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const s = this.subs.get(app);
      s?.delete(fn);
      if (s?.size === 0) this.subs.delete(app);
      if (opts.follower) this.followerCount--;
      this.stats.followers = this.followerCount;
    };
  }

  get bufferedMessages(): number {
    return this.buffered;
  }
}
