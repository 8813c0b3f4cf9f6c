import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// Runs the built CLI as an operator would: `node bin/flynn-host.js ...` in a child process.

const BIN = fileURLToPath(new URL('../bin/flynn-host.js', import.meta.url));
const FLYNN_BIN = fileURLToPath(new URL('../bin/flynn.js', import.meta.url));
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
  // The caller's DISCOVERD and CLUSTER_KEY must not leak into the tests.
  const base: Record<string, string | undefined> = { ...process.env };
  delete base.DISCOVERD;
  delete base.CLUSTER_KEY;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: { ...base, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Error output is one line per message, never a stack trace. */
export function hasStackTrace(text: string): boolean {
  return /\n\s+at /.test(text) || /^\s+at .+:\d+:\d+\)?$/m.test(text);
}
