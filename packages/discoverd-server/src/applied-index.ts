import { HttpError, parseDuration } from '@flynn-edge/service-kit';
import type { FastifyRequest } from 'fastify';
import { intParam, invalid, param, query } from './params.js';

// `?index=N[&wait=<duration>]` on every read (the /kv/ routes and the registry's GET routes):
// first wait until this node has applied log index N. Read-your-writes, since every write
// answers its revision, and a revision is a log index.

/** How long `?index=N` waits by default, and at most (`?wait=` overrides, Go duration syntax). */
export const DEFAULT_INDEX_WAIT_MS = 5_000;
export const MAX_INDEX_WAIT_MS = 60_000;

interface IndexWaiter {
  index: number;
  timer: NodeJS.Timeout;
  resolve(ok: boolean): void;
}

/**
 * Lets requests wait until this node has applied a log index. The Raft server reports every
 * applied batch (advanced()), no-ops and membership changes included, so waiters resolve in the
 * same turn as the apply: no polling.
 */
export class AppliedIndexWaiter {
  private waiters: IndexWaiter[] = [];

  constructor(private readonly current: () => number) {}

  get index(): number {
    return this.current();
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /** Resolves true once the applied index is >= `index`, false after `timeoutMs`. */
  wait(index: number, timeoutMs: number): Promise<boolean> {
    if (this.current() >= index) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const w: IndexWaiter = {
        index,
        resolve,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((x) => x !== w);
          resolve(this.current() >= index);
        }, timeoutMs),
      };
      this.waiters.push(w);
    });
  }

  /** The applied index moved (called once per applied batch): resolves the waiters it reached. */
  advanced(): void {
    if (this.waiters.length === 0) return;
    const now = this.current();
    const still: IndexWaiter[] = [];
    for (const w of this.waiters) {
      if (w.index <= now) {
        clearTimeout(w.timer);
        w.resolve(true);
      } else {
        still.push(w);
      }
    }
    this.waiters = still;
  }

  /** Fails every waiter (the server is closing). */
  close(): void {
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.resolve(false);
    }
    this.waiters = [];
  }
}

export interface IndexParam {
  index: number | undefined;
  waitMs: number;
}

/** Parses and validates `?index=N[&wait=<duration>]`. */
export function indexParam(req: FastifyRequest): IndexParam {
  const q = query(req);
  const index = intParam(q, 'index', 'discoverd');
  const waitRaw = param(q, 'wait', 'discoverd');
  let waitMs = DEFAULT_INDEX_WAIT_MS;
  if (waitRaw !== undefined) {
    let ms: number;
    try {
      ms = parseDuration(waitRaw);
    } catch {
      throw invalid('discoverd: wait must be a duration such as 500ms or 2s');
    }
    if (!(ms >= 0)) throw invalid('discoverd: wait must not be negative');
    waitMs = Math.min(ms, MAX_INDEX_WAIT_MS);
  }
  return { index, waitMs };
}

/**
 * Handles `?index=N[&wait=<duration>]`: waits until this node has applied index N, or throws
 * 503 service_unavailable (retry: true) when that takes longer than the wait.
 */
export async function awaitIndexParam(
  applied: AppliedIndexWaiter,
  req: FastifyRequest,
  parsed: IndexParam = indexParam(req),
): Promise<void> {
  const { index, waitMs } = parsed;
  if (index === undefined) return;
  if (await applied.wait(index, waitMs)) return;
  throw new HttpError(
    'service_unavailable',
    `discoverd: timed out waiting for index ${index} to be applied here (at ${applied.index})`,
    { retry: true },
  );
}

/** A preHandler for GET routes (the registry's): honours `?index=N` before answering. */
export function indexWaitHook(applied: AppliedIndexWaiter) {
  return async (req: FastifyRequest): Promise<void> => {
    if (req.method === 'GET' || req.method === 'HEAD') await awaitIndexParam(applied, req);
  };
}
