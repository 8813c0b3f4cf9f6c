import net from 'node:net';

/** What a backend connection reports to the request that currently owns it. */
export interface BackendOwner {
  onBackendConnect(conn: BackendConn): void;
  onBackendDialError(conn: BackendConn, err: Error): void;
  onBackendData(conn: BackendConn, chunk: Buffer): void;
  onBackendEnd(conn: BackendConn): void;
  onBackendClose(conn: BackendConn, err: Error | undefined): void;
  onBackendDrain(conn: BackendConn): void;
}

function splitAddr(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  let host = addr.slice(0, i);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host, port: Number(addr.slice(i + 1)) };
}

/**
 * One raw socket to a backend. Its listeners are bound once; events go to the current owner
 * (a client connection's request) or, while pooled, end the socket's life in the pool.
 */
export class BackendConn {
  readonly socket: net.Socket;
  readonly addr: string;
  owner: BackendOwner | null;
  connected = false;
  /** Requests this socket has carried (>0 before a request means it came from the pool). */
  uses = 0;
  idleSince = 0;
  private dialTimer: NodeJS.Timeout | null;
  private closed = false;
  private readonly pool: BackendPool;

  constructor(pool: BackendPool, addr: string, owner: BackendOwner, dialMs: number) {
    this.pool = pool;
    this.addr = addr;
    this.owner = owner;
    const { host, port } = splitAddr(addr);
    const s = net.connect({ host, port, allowHalfOpen: true, noDelay: true });
    this.socket = s;
    this.dialTimer = setTimeout(() => this.onDialTimeout(), dialMs);
    s.on('connect', () => this.onConnect());
    s.on('data', (c: Buffer) => this.onData(c));
    s.on('end', () => this.onEnd());
    s.on('drain', () => this.owner?.onBackendDrain(this));
    s.on('error', (e: Error) => this.onError(e));
    s.on('close', () => this.onClose());
  }

  private lastError: Error | undefined;

  private onConnect(): void {
    if (this.dialTimer) clearTimeout(this.dialTimer);
    this.dialTimer = null;
    this.connected = true;
    this.socket.setKeepAlive(true, 30_000);
    this.pool.dialSucceeded(this.addr);
    this.owner?.onBackendConnect(this);
  }

  private onDialTimeout(): void {
    this.dialTimer = null;
    const err = new Error(`dial ${this.addr}: timeout`);
    this.lastError = err;
    this.socket.destroy();
    this.dialFailed(err);
  }

  private dialFailed(err: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.pool.dialFailed(this.addr);
    const o = this.owner;
    this.owner = null;
    o?.onBackendDialError(this, err);
  }

  private onData(chunk: Buffer): void {
    if (this.owner !== null) this.owner.onBackendData(this, chunk);
    else this.socket.destroy(); // bytes on an idle connection: it is unusable
  }

  private onEnd(): void {
    if (this.owner !== null) this.owner.onBackendEnd(this);
    else this.socket.destroy();
  }

  private onError(e: Error): void {
    this.lastError = e;
  }

  private onClose(): void {
    if (this.dialTimer) {
      clearTimeout(this.dialTimer);
      this.dialTimer = null;
    }
    if (!this.connected) {
      this.dialFailed(this.lastError ?? new Error(`dial ${this.addr}: closed`));
      return;
    }
    if (this.closed) return;
    this.closed = true;
    const o = this.owner;
    this.owner = null;
    if (o !== null) o.onBackendClose(this, this.lastError);
    else this.pool.forget(this);
  }

  get isClosed(): boolean {
    return this.closed || this.socket.destroyed;
  }

  /** Drops the socket; the owner is not called back. */
  destroy(): void {
    this.owner = null;
    this.closed = true;
    if (this.dialTimer) {
      clearTimeout(this.dialTimer);
      this.dialTimer = null;
    }
    this.socket.destroy();
  }
}

interface Health {
  failures: number;
  until: number;
}

/**
 * Idle keep-alive sockets per backend address (LIFO, bounded), in-flight request counters for
 * power-of-two-choices and draining, and passive health (quarantine after consecutive dial
 * failures).
 */
export class BackendPool {
  private readonly idle = new Map<string, BackendConn[]>();
  private readonly inflight = new Map<string, number>();
  private readonly idleWaiters = new Map<string, (() => void)[]>();
  private readonly health = new Map<string, Health>();
  private sweepTimer: NodeJS.Timeout;
  closed = false;

  constructor(
    private readonly opts: {
      dialMs: number;
      idleMs: number;
      maxIdle: number;
      quarantineMs: number;
      quarantineAfter: number;
      clock: () => number;
      onDialFailure?: () => void;
    },
  ) {
    this.sweepTimer = setInterval(() => this.sweep(), Math.max(50, Math.min(1000, opts.idleMs / 2)));
    this.sweepTimer.unref();
  }

  /** A pooled socket for `addr` (already used) or a new dial; events go to `owner`. */
  acquire(addr: string, owner: BackendOwner, fresh = false): BackendConn {
    if (!fresh) {
      const list = this.idle.get(addr);
      while (list !== undefined && list.length > 0) {
        const c = list.pop()!;
        if (c.isClosed) continue;
        c.owner = owner;
        return c;
      }
    }
    return new BackendConn(this, addr, owner, this.opts.dialMs);
  }

  /** Returns a finished socket to the pool, or closes it when the pool is full or closing. */
  release(c: BackendConn): void {
    c.owner = null;
    c.uses++;
    if (this.closed || c.isClosed) {
      c.destroy();
      return;
    }
    let list = this.idle.get(c.addr);
    if (list === undefined) {
      list = [];
      this.idle.set(c.addr, list);
    }
    if (list.length >= this.opts.maxIdle) {
      c.destroy();
      return;
    }
    c.idleSince = this.opts.clock();
    list.push(c);
  }

  forget(c: BackendConn): void {
    const list = this.idle.get(c.addr);
    if (list === undefined) return;
    const i = list.indexOf(c);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.idle.delete(c.addr);
  }

  private sweep(): void {
    const cutoff = this.opts.clock() - this.opts.idleMs;
    for (const [addr, list] of this.idle) {
      let k = 0;
      while (k < list.length && list[k].idleSince <= cutoff) list[k++].destroy();
      if (k > 0) list.splice(0, k);
      if (list.length === 0) this.idle.delete(addr);
    }
    const now = this.opts.clock();
    for (const [addr, h] of this.health) if (h.failures === 0 && h.until <= now) this.health.delete(addr);
  }

  inFlight(addr: string): number {
    return this.inflight.get(addr) ?? 0;
  }

  inc(addr: string): void {
    this.inflight.set(addr, (this.inflight.get(addr) ?? 0) + 1);
  }

  dec(addr: string): void {
    const n = (this.inflight.get(addr) ?? 1) - 1;
    if (n > 0) {
      this.inflight.set(addr, n);
      return;
    }
    this.inflight.delete(addr);
    const waiters = this.idleWaiters.get(addr);
    if (waiters !== undefined) {
      this.idleWaiters.delete(addr);
      for (const w of waiters) w();
    }
  }

  whenIdle(addr: string): Promise<void> {
    if (this.inFlight(addr) === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.idleWaiters.get(addr);
      if (list) list.push(resolve);
      else this.idleWaiters.set(addr, [resolve]);
    });
  }

  dialFailed(addr: string): void {
    this.opts.onDialFailure?.();
    let h = this.health.get(addr);
    if (h === undefined) {
      h = { failures: 0, until: 0 };
      this.health.set(addr, h);
    }
    if (++h.failures >= this.opts.quarantineAfter) {
      h.until = this.opts.clock() + this.opts.quarantineMs;
      h.failures = 0;
    }
  }

  dialSucceeded(addr: string): void {
    if (this.health.size === 0) return;
    const h = this.health.get(addr);
    if (h !== undefined) {
      h.failures = 0;
      h.until = 0;
    }
  }

  /** Whether at least one backend is quarantined now (fast check for the selection path). */
  anyQuarantined(): boolean {
    if (this.health.size === 0) return false;
    const now = this.opts.clock();
    for (const h of this.health.values()) if (h.until > now) return true;
    return false;
  }

  isQuarantined(addr: string): boolean {
    const h = this.health.get(addr);
    return h !== undefined && h.until > this.opts.clock();
  }

  quarantinedCount(): number {
    const now = this.opts.clock();
    let n = 0;
    for (const h of this.health.values()) if (h.until > now) n++;
    return n;
  }

  idleCount(addr?: string): number {
    if (addr !== undefined) return this.idle.get(addr)?.length ?? 0;
    let n = 0;
    for (const l of this.idle.values()) n += l.length;
    return n;
  }

  close(): void {
    this.closed = true;
    clearInterval(this.sweepTimer);
    for (const list of this.idle.values()) for (const c of list) c.destroy();
    this.idle.clear();
  }
}
