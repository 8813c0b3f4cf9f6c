// Entry-point helpers for daemons.

import { existsSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FlagError } from './flags.js';
import type { Logger } from './logger.js';

function realpath(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

/**
 * True when the module at `metaUrl` (pass import.meta.url) is the script node was started with.
 * Both sides go through realpath, because bins run through node_modules/.bin symlinks; a script
 * given without its extension (`node dist/main`) is matched too.
 */
export function isMainModule(metaUrl: string, argv1: string | undefined = process.argv[1]): boolean {
  if (!argv1 || !metaUrl.startsWith('file:')) return false;
  const self = realpath(fileURLToPath(metaUrl));
  if (self === undefined) return false;
  const script = resolve(argv1);
  const candidates = existsSync(script) ? [script] : [`${script}.js`, `${script}.mjs`];
  return candidates.some((c) => realpath(c) === self);
}

/**
 * Runs a daemon's main function. A FlagError prints the usage to stderr and exits 0 (-h) or 2,
 * as Go's flag package does; any other error is logged at fatal (or printed) and exits 1.
 */
export function runMain(main: () => unknown, options: { logger?: Logger } = {}): void {
  Promise.resolve()
    .then(main)
    .catch((err: unknown) => {
      if (err instanceof FlagError) {
        process.stderr.write(err.help ? err.usage : `${err.message}\n${err.usage}`);
        process.exit(err.exitCode);
      }
      if (options.logger) options.logger.fatal({ err }, 'fatal error');
      else process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    });
}
