import { createServer } from 'node:net';

// Ports for jobs: handed out from a range, skipping the ones jobs hold, and checked free by
// binding them (a port some other program listens on is skipped).

export interface PortRange {
  min: number;
  max: number;
}

export const DEFAULT_PORT_RANGE: PortRange = { min: 49152, max: 65535 };

export function validatePortRange(r: PortRange): PortRange {
  const ok = (p: number) => Number.isInteger(p) && p >= 1 && p <= 65535;
  if (!ok(r.min) || !ok(r.max) || r.min > r.max) {
    throw new RangeError(`invalid port range ${r.min}-${r.max} (want 1 <= min <= max <= 65535)`);
  }
  return { min: r.min, max: r.max };
}

/** Resolves true when `port` can be bound on `host` right now. */
export function portIsFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

export class PortAllocator {
  readonly range: PortRange;
  private next: number;

  constructor(
    range: PortRange = DEFAULT_PORT_RANGE,
    /** Address the free-check binds (default 0.0.0.0: any listener on the port conflicts). */
    private readonly checkHost = '0.0.0.0',
  ) {
    this.range = validatePortRange(range);
    this.next = this.range.min;
  }

  /**
   * `count` distinct free ports not in `taken`; throws when the range has too few. The search
   * continues where the previous one stopped, so a port just released is not reused at once.
   */
  async allocate(count: number, taken: ReadonlySet<number>): Promise<number[]> {
    const size = this.range.max - this.range.min + 1;
    const out: number[] = [];
    for (let tried = 0; tried < size && out.length < count; tried++) {
      const p = this.next;
      this.next = p >= this.range.max ? this.range.min : p + 1;
      if (taken.has(p) || out.includes(p)) continue;
      if (await portIsFree(p, this.checkHost)) out.push(p);
    }
    if (out.length < count) {
      throw new Error(
        `no free ports: wanted ${count}, found ${out.length} in ${this.range.min}-${this.range.max}`,
      );
    }
    return out;
  }
}
