// Log shipping to logaggregator instances (spec §4.3): one TCP connection per instance; on connect
// ask the instance's API for this host's cursor, replay what is on disk after it, then stream live
// messages (RFC 6587 octet counting, no newline). Any error → reconnect with backoff and resume from
// the cursor the aggregator reports, so an aggregator restart neither loses nor duplicates lines.

import * as net from 'node:net';
import {
  type Cursor,
  compareCursor,
  frameMessage,
  type LogMessage,
  parseMessage,
  stripFrameNewlines,
} from '@flynn-edge/syslog';
import { scanFrames } from './scan.js';
import type { FrameBatch, LogStore } from './store.js';

const CATCH_UP_CHUNK = 256 * 1024;

export interface AggregatorInstance {
  /** host:port of the syslog (ingest) listener */
  syslogAddr: string;
  /** base URL of the aggregator API (GET <apiUrl>/cursors) */
  apiUrl: string;
}

export interface LogShipperOptions {
  store: LogStore;
  /** this host's id as it appears in HOSTNAME (default store.hostId) */
  hostId?: string;
  /** current aggregator instances (the daemon gets them from discoverd) */
  listAggregators: () => AggregatorInstance[] | Promise<AggregatorInstance[]>;
  /** how often to re-list instances (default 5000 ms) */
  refreshMs?: number;
  /** reconnect backoff bounds (default 100 ms … 10 s) */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** a write that does not drain within this time drops the connection (default 1000 ms) */
  writeTimeoutMs?: number;
  /** connect and cursor request timeout (default 5000 ms) */
  connectTimeoutMs?: number;
  /**
   * Live frames held for a socket that is behind (default 32 MiB); past that the sink catches up
   * from the files instead.
   */
  liveBufferBytes?: number;
  onError?: (err: Error, instance: AggregatorInstance) => void;
}

export interface SinkStatus {
  id: string;
  connected: boolean;
  /** messages handed to the socket (all sessions) */
  shipped: number;
  sessions: number;
  lastError?: string;
}

export class LogShipper {
  private readonly sinks = new Map<string, Sink>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private refreshing: Promise<void> | undefined;

  constructor(private readonly opts: LogShipperOptions) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.opts.refreshMs ?? 5000);
    this.timer.unref();
  }

  /** Re-lists the instances now: connects to new ones, drops vanished ones. */
  async refresh(): Promise<void> {
    if (this.refreshing) return this.refreshing;
    this.refreshing = (async () => {
      let list: AggregatorInstance[];
      try {
        list = await this.opts.listAggregators();
      } catch (err) {
        this.opts.onError?.(err as Error, { syslogAddr: '', apiUrl: '' });
        return;
      }
      if (this.stopped) return;
      const want = new Map(list.map((i) => [i.syslogAddr, i]));
      for (const [id, s] of this.sinks) {
        const w = want.get(id);
        if (!w || w.apiUrl !== s.instance.apiUrl) {
          this.sinks.delete(id);
          void s.stop();
        }
      }
      for (const [id, inst] of want) {
        if (!this.sinks.has(id)) {
          const s = new Sink(inst, this.opts);
          this.sinks.set(id, s);
          s.start();
        }
      }
    })().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  status(): SinkStatus[] {
    return [...this.sinks.values()].map((s) => s.status());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    // A refresh still listing aggregators (discoverd may be retrying for seconds) is not awaited:
    // it checks `stopped` once the list arrives and starts nothing.
    const all = [...this.sinks.values()];
    this.sinks.clear();
    await Promise.all(all.map((s) => s.stop()));
  }
}

class Sink {
  private stopped = false;
  private loopDone: Promise<void> | undefined;
  private socket: net.Socket | undefined;
  private sleepAbort: (() => void) | undefined;
  private wakeLive: (() => void) | undefined;
  private connected = false;
  private shipped = 0;
  private sessions = 0;
  private lastError: string | undefined;

  constructor(
    readonly instance: AggregatorInstance,
    private readonly opts: LogShipperOptions,
  ) {}

  start(): void {
    this.loopDone = this.loop();
  }

  status(): SinkStatus {
    return {
      id: this.instance.syslogAddr,
      connected: this.connected,
      shipped: this.shipped,
      sessions: this.sessions,
      lastError: this.lastError,
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeLive?.();
    this.socket?.destroy();
    this.sleepAbort?.();
    await this.loopDone;
  }

  private async loop(): Promise<void> {
    const min = this.opts.backoffMinMs ?? 100;
    const max = this.opts.backoffMaxMs ?? 10_000;
    let backoff = min;
    while (!this.stopped) {
      const began = Date.now();
      try {
        await this.session();
      } catch (err) {
        if (this.stopped) break;
        this.lastError = (err as Error).message;
        this.opts.onError?.(err as Error, this.instance);
      }
      this.connected = false;
      if (this.stopped) break;
      if (Date.now() - began > max) backoff = min; // a long healthy session resets the backoff
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, backoff);
        this.sleepAbort = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.sleepAbort = undefined;
      backoff = Math.min(max, backoff * 2);
    }
  }

  private async session(): Promise<void> {
    const timeout = this.opts.connectTimeoutMs ?? 5000;
    const sock = await connect(this.instance.syslogAddr, timeout);
    this.socket = sock;
    let sockErr: Error | undefined;
    const onGone = (err?: Error) => {
      sockErr ??= err ?? new Error('connection closed by aggregator');
      this.wakeLive?.();
    };
    sock.on('error', onGone);
    sock.on('close', () => onGone());
    sock.on('data', () => {}); // the aggregator sends nothing; keep the socket flowing
    const store = this.opts.store;
    const liveMax = this.opts.liveBufferBytes ?? 32 << 20;
    const writeTimeout = this.opts.writeTimeoutMs ?? 1000;
    // Frames produced in one turn of the event loop leave in one writev, not a syscall each.
    let corked = false;
    const uncork = () => {
      corked = false;
      if (!sock.destroyed) sock.uncork();
    };
    const send = async (buf: Buffer, count: number) => {
      if (!corked) {
        corked = true;
        sock.cork();
        setImmediate(uncork);
      }
      const ok = sock.write(buf);
      this.shipped += count;
      if (!ok) await drained(sock, writeTimeout);
    };
    let unsub: (() => void) | undefined;
    try {
      let last = await this.fetchCursor(timeout);
      if (sockErr) throw sockErr;
      if (this.stopped) return;
      this.connected = true;
      this.sessions++;
      // Rounds: catch up from the files (and the writers' queues) after `last`, then ship live
      // batches as they are accepted; a socket too slow for the live buffer starts a new round.
      while (!sockErr && !this.stopped) {
        let live: FrameBatch[] = [];
        let liveBytes = 0;
        let overflow = false;
        // Subscribed in the same tick as framesAfter's snapshot below: every batch accepted after
        // the snapshot is seen live, none before it.
        unsub = store.subscribeFrames((b) => {
          if (overflow) return;
          if (liveBytes + b.buf.length > liveMax && liveBytes > 0) {
            overflow = true;
            live = [];
            liveBytes = 0;
          } else {
            live.push(b);
            liveBytes += b.buf.length;
          }
          this.wakeLive?.();
        });
        // Catch up from the files and the writers' queues: raw frames in big chunks.
        for await (const c of store.framesAfter(last, CATCH_UP_CHUNK)) {
          if (sockErr || this.stopped) break;
          await send(c.buf, c.count);
          last = c.last;
        }
        let next = 0;
        while (!sockErr && !this.stopped && !overflow) {
          if (next >= live.length) {
            live = [];
            next = 0;
            await new Promise<void>((r) => {
              this.wakeLive = r;
            });
            this.wakeLive = undefined;
            continue;
          }
          const b = live[next++]!;
          liveBytes -= b.buf.length;
          if (last && compareCursor(b.last, last) <= 0) continue;
          if (last && compareCursor(b.first, last) <= 0) {
            // partly shipped already (a cursor from the aggregator inside the batch): frame by frame
            const after = last;
            for (const m of parseFrames(b.buf)) {
              if (compareCursor({ time: m.timestamp, seq: m.seq }, after) <= 0) continue;
              await send(frameMessage(m, false), 1);
            }
          } else {
            await send(stripFrameNewlines(b.buf, b.count), b.count);
          }
          last = b.last;
        }
        unsub();
        unsub = undefined;
      }
      if (sockErr && !this.stopped) throw sockErr;
    } finally {
      unsub?.();
      sock.destroy();
      this.socket = undefined;
    }
  }

  private async fetchCursor(timeoutMs: number): Promise<Cursor | undefined> {
    const hostId = this.opts.hostId ?? this.opts.store.hostId;
    const url = `${this.instance.apiUrl.replace(/\/+$/, '')}/cursors`;
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
    const body = (await res.json()) as Record<string, { time?: unknown; seq?: unknown }>;
    const c = body?.[hostId];
    if (!c) return undefined;
    if (typeof c.time !== 'string' || typeof c.seq !== 'number')
      throw new Error(`GET ${url}: bad cursor for ${hostId}: ${JSON.stringify(c)}`);
    return { time: c.time, seq: c.seq };
  }
}

/** The messages of well-formed on-disk frames. */
function parseFrames(buf: Buffer): LogMessage[] {
  const out: LogMessage[] = [];
  scanFrames(
    buf,
    0,
    buf.length,
    (s, e) => {
      const m = parseMessage(buf.subarray(s, e));
      if (!('error' in m)) out.push(m);
    },
    true,
  );
  return out;
}

function splitHostPort(addr: string): { host: string; port: number } {
  const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(addr);
  if (!m) throw new Error(`bad syslog address ${JSON.stringify(addr)} (want host:port)`);
  return { host: m[1]!, port: Number(m[2]) };
}

function connect(addr: string, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    let hp: { host: string; port: number };
    try {
      hp = splitHostPort(addr);
    } catch (err) {
      reject(err);
      return;
    }
    const sock = net.connect(hp.port, hp.host);
    const t = setTimeout(() => {
      sock.destroy();
      reject(new Error(`connect ${addr}: timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(t);
      sock.removeAllListeners('error');
      sock.setNoDelay(true);
      resolve(sock);
    });
    sock.once('error', (err) => {
      clearTimeout(t);
      reject(err);
    });
  });
}

function drained(sock: net.Socket, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(t);
      sock.off('drain', onDrain);
      sock.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => done();
    const onClose = () => done(new Error('connection closed while writing'));
    const t = setTimeout(() => {
      done(new Error(`write did not drain within ${timeoutMs} ms`));
      sock.destroy();
    }, timeoutMs);
    sock.on('drain', onDrain);
    sock.on('close', onClose);
  });
}
