// The store's read side: a consistent snapshot of an app's files and queued frames, and readers
// over it (history merged across apps in cursor order, follow = history then live, the backwards
// tail).

import { type Cursor, compareCursor, type LogMessage } from '@flynn-edge/syslog';
import type { Subscriber } from './append.js';
import {
  appFiles,
  closeFiles,
  type OpenFile,
  openFilesSync,
  readBackward,
  readForward,
  safeReaddir,
  seekAfter,
} from './files.js';
import { cursorOf, keyOf, type LogFilter, RawFilter } from './scan.js';
import { type FrameItem, itemMessages } from './writer.js';

export interface StreamOptions {
  /** apps to read (default: every app in the directory, including ones created later) */
  appIds?: string[];
  filter?: LogFilter;
  /** only messages with a cursor strictly after this one */
  from?: Cursor;
  /** keep streaming live messages after the history (default false) */
  follow?: boolean;
  /** live messages buffered for a slow consumer before it falls back to reading the disk (default 10000) */
  liveBuffer?: number;
}

export interface SnapshotApp {
  appId: string;
  files: OpenFile[];
  /** messages accepted but not yet known to be on disk */
  readonly pending: LogMessage[];
  /** the same as queued frames */
  pendingItems: FrameItem[];
}

export interface Snapshot {
  cursor: Cursor | undefined;
  apps: SnapshotApp[];
  release(): void;
}

/** What a LogStream reads: snapshots of the files and queues, and live messages. */
export interface StreamSource {
  snapshot(appIds?: string[]): Snapshot;
  subscribe(fn: Subscriber): () => void;
}

/**
 * Synchronously (so no write completes or rotation happens in between): each app's open fds of
 * its files with their sizes and its queued frames, with the newest cursor at that moment.
 */
export function takeSnapshot(
  dir: string,
  appIds: string[],
  pendingItems: (appId: string) => FrameItem[],
  cursor: Cursor | undefined,
): Snapshot {
  const names = safeReaddir(dir);
  const apps: SnapshotApp[] = [];
  const opened: OpenFile[] = [];
  try {
    for (const appId of appIds) {
      const files = openFilesSync(appFiles(dir, appId, names));
      opened.push(...files);
      const items = pendingItems(appId);
      let parsed: LogMessage[] | undefined;
      apps.push({
        appId,
        files,
        pendingItems: items,
        // parsed only by readers that want messages
        get pending() {
          parsed ??= itemMessages(items);
          return parsed;
        },
      });
    }
  } catch (err) {
    closeFiles(opened);
    throw err;
  }
  return { cursor, apps, release: () => closeFiles(opened) };
}

/**
 * The last `n` matching messages of the snapshot's first app (old → new), reading the files
 * backwards in blocks so only the end of the history is touched.
 */
export async function tailSnapshot(snap: Snapshot, n: number, filter: LogFilter): Promise<LogMessage[]> {
  const raw = new RawFilter(filter);
  const app = snap.apps[0]!;
  const pendingKeys = new Set(app.pending.map(keyOf));
  const pend = app.pending.filter((m) => matches(m, filter));
  const chunks: LogMessage[][] = [pend.slice(-n)];
  let have = chunks[0]!.length;
  for (let i = app.files.length - 1; i >= 0 && have < n; i--) {
    await readBackward(app.files[i]!, raw, (msgs) => {
      const fresh = pendingKeys.size > 0 ? msgs.filter((m) => !pendingKeys.has(keyOf(m))) : msgs;
      const take = fresh.length > n - have ? fresh.slice(fresh.length - (n - have)) : fresh;
      chunks.push(take);
      have += take.length;
      return have < n;
    });
  }
  const out: LogMessage[] = [];
  for (let i = chunks.length - 1; i >= 0; i--) out.push(...chunks[i]!);
  return out;
}

/** Whether a parsed message passes a filter (same rules as the raw filter). */
export function matches(m: LogMessage, f: LogFilter): boolean {
  if (f.streams && !f.streams.includes(m.msgId)) return false;
  if (f.jobId !== undefined || f.processType !== undefined) {
    const nil = m.procId === '-';
    const dot = m.procId.indexOf('.');
    const job = nil ? '' : dot < 0 ? m.procId : m.procId.slice(dot + 1);
    const type = dot < 0 ? '' : m.procId.slice(0, dot);
    if (f.jobId !== undefined && job !== f.jobId) return false;
    if (f.processType !== undefined && type !== f.processType) return false;
  }
  return true;
}

/**
 * An async iterable of messages: the history (merged across apps in cursor order), then, with
 * `follow`, live messages. A consumer too slow for the live buffer falls back to reading the disk
 * from its last cursor, so nothing is lost or repeated (unless rotation deleted it meanwhile).
 */
export class LogStream implements AsyncIterable<LogMessage> {
  private closed = false;
  private wake: (() => void) | undefined;
  private started = false;
  /** live messages that overflowed the buffer and had to be re-read from disk */
  catchUps = 0;

  constructor(
    private readonly store: StreamSource,
    private readonly opts: StreamOptions,
  ) {}

  close(): void {
    this.closed = true;
    this.wake?.();
  }

  /** Collects the (non-follow) stream into an array. */
  async toArray(): Promise<LogMessage[]> {
    const out: LogMessage[] = [];
    for await (const m of this) out.push(m);
    return out;
  }

  [Symbol.asyncIterator](): AsyncIterator<LogMessage> {
    if (this.started) throw new Error('a LogStream can be iterated once');
    this.started = true;
    return this.run();
  }

  private async *run(): AsyncGenerator<LogMessage, void, undefined> {
    const { filter = {}, follow = false } = this.opts;
    const appSet = this.opts.appIds ? new Set(this.opts.appIds) : undefined;
    const liveMax = this.opts.liveBuffer ?? 10_000;
    let live: LogMessage[] = [];
    let head = 0;
    let overflow = false;
    let last = this.opts.from;
    const unsub = follow
      ? this.store.subscribe((m) => {
          if (appSet && !appSet.has(m.appName)) return;
          if (live.length - head >= liveMax) {
            overflow = true;
            return;
          }
          live.push(m);
          this.wake?.();
        })
      : undefined;
    try {
      for (;;) {
        // catch-up round: everything up to the newest cursor comes from disk + writer queues
        live = [];
        head = 0;
        overflow = false;
        const snap = this.store.snapshot(this.opts.appIds);
        const upTo = snap.cursor;
        try {
          for await (const batch of mergeApps(snap, last, filter)) {
            for (const m of batch) {
              if (this.closed) return;
              last = cursorOf(m);
              if (matches(m, filter)) yield m;
            }
          }
        } finally {
          snap.release();
        }
        if (upTo && (!last || compareCursor(upTo, last) > 0)) last = upTo;
        if (!follow) return;
        for (;;) {
          while (head < live.length) {
            const m = live[head++]!;
            // live messages all follow the snapshot, so they cannot repeat disk ones; only a
            // caller's cursor ahead of them can exclude some
            if (this.opts.from && compareCursor(cursorOf(m), this.opts.from) <= 0) continue;
            last = cursorOf(m);
            if (matches(m, filter)) yield m;
            if (this.closed) return;
          }
          live = [];
          head = 0;
          if (this.closed) return;
          if (overflow) break;
          await new Promise<void>((r) => {
            this.wake = r;
          });
          this.wake = undefined;
        }
        this.catchUps++;
      }
    } finally {
      unsub?.();
    }
  }
}

/**
 * Per app: messages on disk (up to each file's size at the snapshot) after `from` (seeking near it
 * first), then the writer's queued ones not seen on disk; merged across apps by cursor, in batches.
 * Everything accepted after the snapshot reaches a follower live.
 */
async function* mergeApps(
  snap: Snapshot,
  from: Cursor | undefined,
  filter: LogFilter,
): AsyncGenerator<LogMessage[], void, undefined> {
  // Cursor bounds need every message (filters are applied by the caller) unless there is one app.
  const raw = snap.apps.length === 1 ? new RawFilter(filter) : new RawFilter();
  const sources = snap.apps.map((a) => appSource(a, from, raw, filter));
  if (sources.length === 1) {
    yield* sources[0]!;
    return;
  }
  const heads: Array<{ it: AsyncGenerator<LogMessage[]>; batch: LogMessage[]; i: number } | undefined> = [];
  for (const it of sources) {
    const r = await it.next();
    heads.push(r.done ? undefined : { it, batch: r.value, i: 0 });
  }
  let out: LogMessage[] = [];
  for (;;) {
    let best = -1;
    for (let k = 0; k < heads.length; k++) {
      const h = heads[k];
      if (!h) continue;
      if (
        best < 0 ||
        compareCursor(cursorOf(h.batch[h.i]!), cursorOf(heads[best]!.batch[heads[best]!.i]!)) < 0
      )
        best = k;
    }
    if (best < 0) break;
    const h = heads[best]!;
    out.push(h.batch[h.i++]!);
    if (h.i >= h.batch.length) {
      const r = await h.it.next();
      heads[best] = r.done ? undefined : { it: h.it, batch: r.value, i: 0 };
    }
    if (out.length >= 1000) {
      yield out;
      out = [];
    }
  }
  if (out.length > 0) yield out;
}

async function* appSource(
  app: SnapshotApp,
  from: Cursor | undefined,
  raw: RawFilter,
  filter: LogFilter,
): AsyncGenerator<LogMessage[], void, undefined> {
  let lastDisk: Cursor | undefined;
  let started = !from;
  for (const f of app.files) {
    let start = 0;
    if (!started && from) {
      // skip whole files (and most of a file) that end before `from`
      start = await seekAfter(f, from);
    }
    for await (const batch of readForward(f, raw, start)) {
      const keep: LogMessage[] = [];
      for (const m of batch) {
        const c = cursorOf(m);
        if (from && compareCursor(c, from) <= 0) continue;
        started = true;
        lastDisk = c;
        keep.push(m);
      }
      if (keep.length > 0) yield keep;
    }
  }
  const rest = app.pending.filter((m) => {
    const c = cursorOf(m);
    if (lastDisk && compareCursor(c, lastDisk) <= 0) return false;
    if (from && compareCursor(c, from) <= 0) return false;
    return raw.matchesAll || matches(m, filter);
  });
  if (rest.length > 0) yield rest;
}
