import net from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, host, r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

// Blocks of consecutive ports for clusters that need fixed ports on several addresses (a
// discoverd on 127.0.0.1-3 all on one port, a local cluster's nine services). They come from
// 20000-25999, below the kernel's ephemeral range (32768+, where outgoing connections take
// ports; 26000-31999 is left to the end-to-end suites' job port bands), split into one slice per vitest worker (VITEST_POOL_ID) so that suites running side by
// side never draw the same block; within a slice a cursor moves on, so one process never hands
// a port out twice. (host-jobs' tests take their job ports from 10000-19999.)
const BLOCKS_MIN = 20_000;
const BLOCKS_MAX = 26_000;
const WORKER_SLICES = 8;
const SLICE = (BLOCKS_MAX - BLOCKS_MIN) / WORKER_SLICES;
const sliceStart = BLOCKS_MIN + ((Number(process.env.VITEST_POOL_ID ?? 1) - 1) % WORKER_SLICES) * SLICE;
let cursor = 0;

/**
 * The first port of `count` consecutive ports that this process has not handed out before, in its
 * worker's slice. Not checked against other programs: use {@link freePortBlock} where it can bind.
 */
export function nextPortBlock(count: number): number {
  if (count > SLICE) throw new Error(`a block of ${count} ports does not fit a slice of ${SLICE}`);
  if (cursor + count > SLICE) cursor = 0;
  const base = sliceStart + cursor;
  cursor += count;
  return base;
}

/** As {@link nextPortBlock}, skipping blocks where any port is taken on any of `hosts`. */
export async function freePortBlock(
  count: number,
  hosts: readonly string[] = ['127.0.0.1'],
): Promise<number> {
  for (let attempt = 0; attempt < SLICE / count; attempt++) {
    const base = nextPortBlock(count);
    if (await allFree(base, count, hosts)) return base;
  }
  throw new Error(`no block of ${count} free ports in ${sliceStart}-${sliceStart + SLICE - 1}`);
}

async function allFree(base: number, count: number, hosts: readonly string[]): Promise<boolean> {
  for (const host of hosts) {
    for (let port = base; port < base + count; port++) {
      const free = await new Promise<boolean>((resolve) => {
        const s = net.createServer();
        s.once('error', () => resolve(false));
        s.listen(port, host, () => s.close(() => resolve(true)));
      });
      if (!free) return false;
    }
  }
  return true;
}
