import { performance } from 'node:perf_hooks';
import {
  type CheckOutcome,
  type ComponentResult,
  componentResult,
  overallHealthy,
  type StatusResult,
} from './envelope.js';

// One round: every check at once, each with its own deadline (2 s by default, Flynn's client
// timeout). A check that overruns is reported unhealthy at its deadline and its signal is aborted,
// so a hung component never holds the answer past the deadline, whether or not the check itself
// honours the signal. A check that throws is unhealthy with the error as the reason.

export const DEFAULT_CHECK_TIMEOUT_MS = 2000;

export interface Check {
  /** The key in `detail` (Flynn's names where Flynn had them). */
  name: string;
  /** Reported, but never makes the whole status unhealthy. */
  optional?: boolean;
  run(signal: AbortSignal): Promise<CheckOutcome>;
}

export interface RoundObserver {
  /** Called once per check with its result (metrics). */
  onResult?(name: string, result: ComponentResult): void;
}

export interface RunOptions extends RoundObserver {
  timeoutMs?: number;
  /** The cache's clock, for StatusResult.checkedAt (default Date.now). */
  now?: () => number;
}

/** A readable reason from anything thrown (fetch hides the socket error in `cause`). */
export function errorReason(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return 'timed out';
  const code = (err as { code?: unknown }).code;
  // node:http and net errors carry the code in the message already ("connect ECONNREFUSED …").
  if (typeof code === 'string' && !(cause instanceof Error)) return err.message;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return typeof code === 'string' ? `${err.message}: ${code}` : `${err.message}: ${cause.message}`;
  }
  return err.message;
}

export async function runCheck(check: Check, timeoutMs = DEFAULT_CHECK_TIMEOUT_MS): Promise<ComponentResult> {
  const started = performance.now();
  const ctl = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<CheckOutcome>((resolve) => {
    timer = setTimeout(() => {
      resolve({ healthy: false, reason: `timed out after ${timeoutMs} ms` });
      ctl.abort(new DOMException('check deadline', 'TimeoutError'));
    }, timeoutMs);
  });
  let outcome: CheckOutcome;
  try {
    outcome = await Promise.race([
      Promise.resolve()
        .then(() => check.run(ctl.signal))
        .catch((err: unknown): CheckOutcome => ({ healthy: false, reason: errorReason(err) })),
      deadline,
    ]);
  } finally {
    clearTimeout(timer);
  }
  // A check that finished after the deadline fired cannot win the race; nothing else to do.
  if (!ctl.signal.aborted) ctl.abort(new DOMException('check done', 'AbortError'));
  return componentResult(outcome, (performance.now() - started) / 1000, check.optional === true);
}

export async function runChecks(checks: readonly Check[], opts: RunOptions = {}): Promise<StatusResult> {
  const results = await Promise.all(checks.map((c) => runCheck(c, opts.timeoutMs)));
  const detail: Record<string, ComponentResult> = {};
  checks.forEach((c, i) => {
    detail[c.name] = results[i]!;
    opts.onResult?.(c.name, results[i]!);
  });
  return { healthy: overallHealthy(detail), detail, checkedAt: (opts.now ?? Date.now)() };
}
