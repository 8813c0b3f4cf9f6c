// Runs the built CLIs as an operator would, for this app's tests and the end-to-end suites
// (`@flynn-edge/cli/testing`); nothing in the CLI itself imports it.

import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../bin/flynn-host.js', import.meta.url));
export const FLYNN_BIN = fileURLToPath(new URL('../bin/flynn.js', import.meta.url));
const DIST = fileURLToPath(new URL('../dist/main.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `flynn ARGS…` (the app commands). */
export function runFlynn(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(args, env, FLYNN_BIN);
}

export function runCli(args: string[], env: Record<string, string> = {}, bin = BIN): Promise<CliResult> {
  if (!existsSync(DIST)) {
    throw new Error('apps/cli is not built: run `npx turbo run build` in the repository root first');
  }
  return spawnCli(args, env, bin).done;
}

/** Spawns a CLI with the caller's DISCOVERD and CLUSTER_KEY removed (they must not leak into tests). */
function spawnCli(
  args: string[],
  env: Record<string, string>,
  bin: string,
): {
  child: ChildProcessByStdio<null, Readable, Readable>;
  out: { stdout: string; stderr: string };
  done: Promise<CliResult & { signal: NodeJS.Signals | null }>;
} {
  const base: Record<string, string | undefined> = { ...process.env };
  delete base.DISCOVERD;
  delete base.CLUSTER_KEY;
  const child = spawn(process.execPath, [bin, ...args], {
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out.stdout += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    out.stderr += d;
  });
  const done = new Promise<CliResult & { signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, ...out }));
  });
  return { child, out, done };
}

/** Error output is one line per message, never a stack trace. */
export function hasStackTrace(text: string): boolean {
  return /\n\s+at /.test(text) || /^\s+at .+:\d+:\d+\)?$/m.test(text);
}

/**
 * Runs the CLI as `CLI … | head -1` runs it: reads its stdout up to the first line, then closes
 * the pipe. Resolves with how the CLI ended; a CLI still running after `timeoutMs` is killed (code
 * null).
 */
export async function runUntilFirstLine(
  args: string[],
  env: Record<string, string> = {},
  bin = BIN,
  timeoutMs = 15_000,
): Promise<CliResult & { signal: NodeJS.Signals | null }> {
  const { child, out, done } = spawnCli(args, env, bin);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  child.stdout.on('data', () => {
    const nl = out.stdout.indexOf('\n');
    if (nl >= 0) {
      out.stdout = out.stdout.slice(0, nl + 1);
      child.stdout.destroy();
    }
  });
  try {
    return await done;
  } finally {
    clearTimeout(timer);
  }
}
