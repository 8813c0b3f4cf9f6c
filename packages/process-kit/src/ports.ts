import net from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, host, r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

// Bands of ports handed out in consecutive blocks, for clusters that need fixed ports on several
// addresses (a discoverd on 127.0.0.1-3 all on one port, a local cluster's nine services, a
// host's job ports). A band lies below the kernel's ephemeral range (where outgoing connections
// and port 0 land) and is split into one slice per vitest worker (VITEST_POOL_ID), so suites
// running side by side never draw the same block; within a slice a cursor moves on, so one
// process never hands a port out twice.
const WORKER_SLICES = 8;

export class PortBand {
  private readonly slice: number;
  private readonly sliceStart: number;
  private cursor = 0;

  /** Ports `min` to `max - 1`. */
  constructor(min: number, max: number) {
    this.slice = Math.floor((max - min) / WORKER_SLICES);
    this.sliceStart = min + ((Number(process.env.VITEST_POOL_ID ?? 1) - 1) % WORKER_SLICES) * this.slice;
  }

  /** The first port of `count` consecutive ports this process has not handed out before. */
  next(count: number): number {
    if (count > this.slice)
      throw new Error(`a block of ${count} ports does not fit a slice of ${this.slice}`);
    if (this.cursor + count > this.slice) this.cursor = 0;
    const base = this.sliceStart + this.cursor;
    this.cursor += count;
    return base;
  }
}

// 20000-25999 for service ports (26000-31999 is left to the end-to-end suites' job port bands;
// host-jobs' tests take their job ports from 10000-19999).
const serviceBand = new PortBand(20_000, 26_000);

/** A block of `count` consecutive service ports from this worker's slice of 20000-25999. */
export function nextPortBlock(count: number): number {
  return serviceBand.next(count);
}
