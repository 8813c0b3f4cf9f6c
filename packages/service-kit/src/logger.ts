// pino loggers with the fields every flynn-edge daemon shares: {component, host?}.
// Writes are synchronous by default, so `logger.fatal(...); process.exit(1)` never loses the
// last line; fatalExit() wraps that pattern and also flushes an async destination.

import { writeSync } from 'node:fs';
import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger } from 'pino';

export const LOG_LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface LoggerOptions {
  component: string;
  /** Explicit level (e.g. from a -log-level flag); otherwise $LOG_LEVEL, otherwise "info". */
  level?: string;
  /** Advertised host address or hostname; omitted from log lines when undefined. */
  host?: string;
  /** Human-readable single-line output (for a terminal) instead of NDJSON. */
  pretty?: boolean;
  /** Where to write; a file descriptor (default 1, stdout) or a stream with write(). */
  destination?: number | DestinationStream;
  /** Environment to read LOG_LEVEL from (tests); defaults to process.env. */
  env?: Readonly<Record<string, string | undefined>>;
}

export function resolveLogLevel(
  level: string | undefined,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string {
  const chosen = (level || env.LOG_LEVEL || 'info').toLowerCase();
  if (!LOG_LEVELS.includes(chosen)) {
    throw new Error(`invalid log level ${JSON.stringify(chosen)} (want one of ${LOG_LEVELS.join(', ')})`);
  }
  return chosen;
}

export function createLogger(options: LoggerOptions): Logger {
  const level = resolveLogLevel(options.level, options.env);
  const fd = typeof options.destination === 'number' ? options.destination : 1;
  let dest: DestinationStream;
  if (options.pretty) dest = prettyDestination(fd);
  else if (typeof options.destination === 'object') dest = options.destination;
  else dest = pino.destination({ dest: fd, sync: true });
  const base: Record<string, string> = { component: options.component };
  if (options.host !== undefined) base.host = options.host;
  return pino({ level, base, timestamp: pino.stdTimeFunctions.isoTime }, dest);
}

/** Logs err at fatal, flushes, and exits: for a daemon's last words. */
export function fatalExit(logger: Logger, err: unknown, message = 'fatal error', code = 1): never {
  logger.fatal({ err }, message);
  // A sonic-boom destination opened with sync: false buffers; write it out before exiting.
  const stream = (logger as unknown as Record<symbol, { flushSync?: () => void } | undefined>)[
    pino.symbols.streamSym
  ];
  try {
    stream?.flushSync?.();
  } catch {
    // nothing buffered, or the fd is already gone
  }
  process.exit(code);
}

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

/** `12:00:01.123 INFO  discoverd: message key=value ...` (pino-pretty is not a dependency). */
export function formatPretty(record: Record<string, unknown>): string {
  const { level, time, msg, component, host: _host, ...rest } = record;
  const t = typeof time === 'string' ? time.slice(11, 23) : new Date().toISOString().slice(11, 23);
  const name = (LEVEL_NAMES[level as number] ?? String(level)).padEnd(5);
  let line = `${t} ${name} ${component ?? ''}: ${msg ?? ''}`;
  for (const [k, v] of Object.entries(rest)) {
    if (k === 'err' && v && typeof v === 'object' && 'stack' in v) {
      line += `\n${String((v as { stack: unknown }).stack)}`;
      continue;
    }
    const s = typeof v === 'string' ? v : JSON.stringify(v);
    line += ` ${k}=${/[\s"=]/.test(s) ? JSON.stringify(s) : s}`;
  }
  return `${line}\n`;
}

function prettyDestination(fd: number): DestinationStream {
  return {
    write(chunk: string) {
      let out: string;
      try {
        out = formatPretty(JSON.parse(chunk));
      } catch {
        out = chunk;
      }
      writeSync(fd, out);
    },
  };
}
