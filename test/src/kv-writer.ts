import type { OpsCluster } from './ops-cluster.js';

// A store writer for the netns scenarios: KV keys put without pause through discoverd's HTTP API,
// each to the next host (another after a failure), 307s followed by hand (fetch drops the key on a
// cross-origin redirect). What was acknowledged must be readable at the end.

/** One discoverd KV request to host k. */
export async function kvRequest(
  c: OpsCluster,
  k: number,
  method: 'GET' | 'PUT',
  key: string,
  value?: string,
): Promise<Response> {
  let url = `http://${c.ip(k)}:1111/kv/${encodeURIComponent(key)}`;
  for (let hop = 0; hop < 5; hop++) {
    const res = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${c.clusterKey}`, 'content-type': 'application/json' },
      body: value === undefined ? undefined : JSON.stringify({ value }),
      redirect: 'manual',
      signal: AbortSignal.timeout(3000),
    });
    if (res.status !== 307) return res;
    url = new URL(res.headers.get('location')!, url).toString();
  }
  throw new Error('too many redirects');
}

/** Puts `<prefix>/k0`, `<prefix>/k1`, … until stopped. */
export class KvWriter {
  readonly acked = new Map<string, string>();
  failures = 0;
  /** The longest time between two acknowledged writes. */
  maxGapMs = 0;
  private stopped = false;
  private done: Promise<void> | undefined;

  constructor(
    private readonly c: OpsCluster,
    private readonly hosts: number[],
    private readonly prefix: string,
  ) {}

  start(): void {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    let last = Date.now();
    for (let i = 0; !this.stopped; i++) {
      const key = `${this.prefix}/k${i}`;
      const value = `v${i}-${Date.now()}`;
      for (let attempt = 0; !this.stopped; attempt++) {
        const k = this.hosts[(i + attempt) % this.hosts.length]!;
        try {
          const res = await kvRequest(this.c, k, 'PUT', key, value);
          if (res.status === 200) {
            this.acked.set(key, value);
            this.maxGapMs = Math.max(this.maxGapMs, Date.now() - last);
            last = Date.now();
            break;
          }
          this.failures++;
        } catch {
          this.failures++;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }

  /** The acknowledged keys whose value host k does not return. */
  async missing(k: number): Promise<string[]> {
    const lost: string[] = [];
    for (const [key, value] of this.acked) {
      const res = await kvRequest(this.c, k, 'GET', key);
      const body = res.status === 200 ? ((await res.json()) as { value?: string }) : undefined;
      if (body?.value !== value) lost.push(key);
    }
    return lost;
  }
}
