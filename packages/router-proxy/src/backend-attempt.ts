import type { BackendConn, BackendOwner } from './pool.js';
import type { ProxyCore } from './proxy-core.js';
import { selectBackend, upgradeOrder } from './select.js';
import type { Backend } from './types.js';

const MAX_ATTEMPTS = 4;
const NONE_TRIED: readonly string[] = [];

export function isIdempotent(method: string): boolean {
  return (
    method === 'GET' ||
    method === 'HEAD' ||
    method === 'OPTIONS' ||
    method === 'PUT' ||
    method === 'DELETE' ||
    method === 'TRACE'
  );
}

/**
 * One request's way to a backend, shared by HTTP/1 exchanges and HTTP/2 streams: the sticky
 * backend first, then select.ts's choice among those not tried; up to 4 dials; one retry on a
 * fresh connection when a pooled one fails before any response byte; the in-flight count of the
 * chosen backend held until release(). Upgrades try every backend in turn, uncounted.
 */
export class BackendAttempt {
  /** The backend of the current connection. */
  backend: Backend | null = null;
  /** The current connection came from the pool (conn_reused). */
  reused = false;
  private attempts = 0;
  private counted = false;
  private retriedStale = false;
  private tried: string[] | null = null;
  private order: string[] | null = null;

  constructor(
    private readonly core: ProxyCore,
    private readonly backends: readonly Backend[],
    readonly stickyAddr: string | undefined,
    private readonly upgrade = false,
  ) {}

  /** A connection to the next backend (maybe already connected), or null when none is left. */
  connect(owner: BackendOwner): BackendConn | null {
    if (this.upgrade) return this.connectUpgrade(owner);
    const pool = this.core.pool;
    const b = selectBackend(pool, this.backends, this.stickyAddr, this.tried ?? NONE_TRIED);
    if (b === undefined) return null;
    this.backend = b;
    this.attempts++;
    pool.inc(b.addr);
    this.counted = true;
    const c = pool.acquire(b.addr, owner);
    if (c.connected) this.reused = true;
    return c;
  }

  /** After a dial error: the backend is marked tried and the next one dialled, or null. */
  redial(owner: BackendOwner): BackendConn | null {
    if (this.upgrade) return this.connectUpgrade(owner);
    const addr = this.backend!.addr;
    this.release();
    if (this.tried === null) this.tried = [addr];
    else this.tried.push(addr);
    if (this.attempts >= MAX_ATTEMPTS) return null;
    const c = this.connect(owner);
    if (c !== null) this.core.metrics?.retries.inc();
    return c;
  }

  /**
   * A pooled connection failed before any response byte (the keep-alive race): a bodiless
   * idempotent request is sent once more on a fresh connection to the same backend, else null.
   */
  retryStale(owner: BackendOwner, method: string, bodiless: boolean): BackendConn | null {
    if (!this.reused || this.retriedStale || !bodiless || !isIdempotent(method)) return null;
    this.retriedStale = true;
    this.reused = false;
    this.core.metrics?.retries.inc();
    return this.core.pool.acquire(this.backend!.addr, owner, true);
  }

  /** Upgrades: a fresh, uncounted connection to each backend in shuffled order, sticky first. */
  private connectUpgrade(owner: BackendOwner): BackendConn | null {
    if (this.order === null) this.order = upgradeOrder(this.backends, this.stickyAddr);
    const addr = this.order.shift();
    if (addr === undefined) return null;
    this.backend = this.backends.find((b) => b.addr === addr) ?? { addr };
    return this.core.pool.acquire(addr, owner, true);
  }

  /** Gives back the in-flight count (idempotent). */
  release(): void {
    if (this.counted && this.backend !== null) this.core.pool.dec(this.backend.addr);
    this.counted = false;
  }
}
