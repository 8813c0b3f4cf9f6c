// Graceful shutdown: handlers registered with onShutdown() run once, newest first (a server
// registered after the store it uses is closed before that store), each bounded by a timeout.
// SIGINT/SIGTERM start the shutdown and exit when it is done; a second signal exits at once.

import { constants } from 'node:os';
import type { Logger } from './logger.js';

export type ShutdownHandler = () => unknown;

export interface ShutdownHandlerOptions {
  /** For log lines. */
  name?: string;
  /** Give up waiting for this handler after this long; default: the registry's timeoutMs. */
  timeoutMs?: number;
}

export interface ShutdownOptions {
  /** Per-handler timeout, default 10 s. */
  timeoutMs?: number;
  logger?: Logger;
}

export interface ShutdownResult {
  /** Names (or indexes) of handlers that threw or timed out. */
  failed: string[];
}

interface Entry extends ShutdownHandlerOptions {
  fn: ShutdownHandler;
}

export class ShutdownRegistry {
  private readonly entries: Entry[] = [];
  private running: Promise<ShutdownResult> | undefined;
  private readonly timeoutMs: number;
  /** Where handler failures are logged; may be set after construction. */
  logger: Logger | undefined;

  constructor(options: ShutdownOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.logger = options.logger;
  }

  /** Registers a handler; returns a function that unregisters it. */
  onShutdown(fn: ShutdownHandler, options: ShutdownHandlerOptions = {}): () => void {
    const entry: Entry = { fn, ...options };
    this.entries.push(entry);
    return () => {
      const i = this.entries.indexOf(entry);
      if (i !== -1) this.entries.splice(i, 1);
    };
  }

  get started(): boolean {
    return this.running !== undefined;
  }

  /** Runs every handler once, in reverse order of registration; later calls share the result. */
  shutdown(): Promise<ShutdownResult> {
    this.running ??= this.runAll();
    return this.running;
  }

  private async runAll(): Promise<ShutdownResult> {
    const failed: string[] = [];
    const entries = this.entries.splice(0).reverse();
    for (const [i, entry] of entries.entries()) {
      const name = entry.name ?? `handler ${entries.length - 1 - i}`;
      const timeoutMs = entry.timeoutMs ?? this.timeoutMs;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        await Promise.race([Promise.resolve().then(entry.fn), timeout]);
      } catch (err) {
        failed.push(name);
        this.logger?.error({ err, handler: name }, 'shutdown handler failed');
      } finally {
        clearTimeout(timer);
      }
    }
    return { failed };
  }
}

export interface SignalOptions {
  signals?: readonly NodeJS.Signals[];
  logger?: Logger;
  /** For tests; defaults to process.exit. */
  exit?: (code: number) => void;
}

/**
 * Installs signal handlers: the first signal runs registry.shutdown() and then exits (1 if a
 * handler failed, else 0); a second signal exits at once with 128 + the signal number.
 * Returns a function that removes the handlers.
 */
export function handleSignals(registry: ShutdownRegistry, options: SignalOptions = {}): () => void {
  const signals = options.signals ?? ['SIGINT', 'SIGTERM'];
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const listener = (signal: NodeJS.Signals) => {
    if (registry.started) {
      options.logger?.warn({ signal }, 'second signal, exiting now');
      exit(128 + (constants.signals[signal] ?? 0));
      return;
    }
    options.logger?.info({ signal }, 'shutting down');
    void registry.shutdown().then(({ failed }) => exit(failed.length > 0 ? 1 : 0));
  };
  for (const s of signals) process.on(s, listener);
  return () => {
    for (const s of signals) process.off(s, listener);
  };
}

/** The process-wide registry used by onShutdown()/shutdown()/installSignalHandlers(). */
export const processShutdown = new ShutdownRegistry();

export function onShutdown(fn: ShutdownHandler, options?: ShutdownHandlerOptions): () => void {
  return processShutdown.onShutdown(fn, options);
}

export function shutdown(): Promise<ShutdownResult> {
  return processShutdown.shutdown();
}

export function installSignalHandlers(options: SignalOptions = {}): () => void {
  processShutdown.logger ??= options.logger;
  return handleSignals(processShutdown, options);
}
