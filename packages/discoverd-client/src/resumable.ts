import { type Clock, sleep } from './clock.js';
import type { Transport } from './http.js';
import { readSse, type SseMessage } from './sse.js';

// The reconnect loop of every watch (services and the cluster store): open an SSE stream on any
// server (the transport rotates through the list), hand its messages over, and when it ends or
// fails open the next one after a pause, resuming from wherever the watch says it is. A stream
// that worked restarts the reconnect window; once the window is spent the watch gives up.

/** How a watch reconnects (the watches' own options). */
export interface ReconnectTiming {
  /** Keep reconnecting this long after the last stream that worked (default 30 s; Infinity allowed). */
  reconnectWindowMs?: number;
  /** Pause between two connections (default 200 ms). */
  reconnectDelayMs?: number;
  /**
   * Reconnect when nothing (not even a keep-alive comment, sent after 30 s of silence) arrives
   * for this long: a paused server would otherwise hold the watch forever (default 65 s; 0 disables).
   */
  idleTimeoutMs?: number;
}

export interface ResumableStreamOptions {
  transport: Transport;
  clock: Clock;
  /** Aborted when the watch is closed: the loop ends and resolves undefined. */
  signal: AbortSignal;
  /** Names the stream in errors ("kv watch stream"). */
  label: string;
  timing: ReconnectTiming;
  /** What restarts the window: the stream opening, or its first message. */
  resetOn: 'open' | 'message';
  /** The path (with query) of the next stream: where to resume. May ask the server first. */
  path(): string | Promise<string>;
  /** A stream is open (before any message). */
  opened(server: string): void;
  /** One message; throwing drops the stream (it is reconnected). */
  message(msg: SseMessage): void;
  /** After a stream ended: true to reconnect at once (the position was reset, as after compaction). */
  ended?(): Promise<boolean>;
  /** An error no reconnect can fix: the watch gives up at once. */
  fatal?(err: unknown): boolean;
}

/** Runs until closed (undefined) or until it gives up (the last error). */
export async function runResumableStream(o: ResumableStreamOptions): Promise<Error | undefined> {
  const { clock, transport, signal } = o;
  const windowMs = o.timing.reconnectWindowMs ?? 30_000;
  const idleMs = o.timing.idleTimeoutMs ?? 65_000;
  let disconnectedAt = clock.now();
  let lastErr = new Error(`${o.label} ended`);
  while (!signal.aborted) {
    let worked = false;
    const conn = new AbortController();
    const onClose = () => conn.abort(signal.reason);
    signal.addEventListener('abort', onClose, { once: true });
    let idle: unknown;
    const arm = () => {
      if (idleMs <= 0) return;
      if (idle !== undefined) clock.clearTimeout(idle);
      idle = clock.setTimeout(() => conn.abort(new Error(`${o.label} idle`)), idleMs);
    };
    try {
      const path = await o.path();
      const left = disconnectedAt + windowMs - clock.now();
      const { response, server } = await transport.stream(path, {
        signal: conn.signal,
        retryDeadlineMs: Number.isFinite(left) ? Math.max(0, left) : undefined,
      });
      if (signal.aborted) break;
      o.opened(server);
      if (o.resetOn === 'open') worked = true;
      arm();
      if (response.body) {
        await readSse(
          response.body,
          (msg) => {
            o.message(msg);
            worked = true;
          },
          arm,
        );
      }
      lastErr = new Error(`${o.label} from ${server} ended`);
      if (await o.ended?.()) continue;
    } catch (err) {
      if (signal.aborted) break;
      if (o.fatal?.(err)) return err as Error;
      lastErr = err instanceof Error ? err : new Error(String(err));
    } finally {
      if (idle !== undefined) clock.clearTimeout(idle);
      signal.removeEventListener('abort', onClose);
      conn.abort();
    }
    if (signal.aborted) break;
    if (worked) disconnectedAt = clock.now();
    if (clock.now() - disconnectedAt >= windowMs) return lastErr;
    try {
      await sleep(clock, o.timing.reconnectDelayMs ?? 200, signal);
    } catch {
      break;
    }
  }
  return undefined;
}
