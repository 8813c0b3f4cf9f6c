import type { StoreEntry, StoreKv } from '@flynn-edge/app-model';
import { answerError, NetworkError, request } from '../discoverd-http.js';
import { CliError } from '../output.js';
import { kvPath } from './kv.js';
import type { ClusterTarget } from './target.js';

// The cluster store (discoverd /kv/) for the app model, over the CLI's HTTP helpers: linearizable
// reads, 307s to the leader followed with the key, the next server tried when one is unreachable.

/** How long a store request keeps trying through a leader election. */
const RETRY_MS = 10_000;

export class HttpStore implements StoreKv {
  constructor(private readonly target: ClusterTarget) {}

  /**
   * The first server that answers at all; the answer's status is the caller's to judge. Through a
   * leader election (every server unreachable, or 503 "no known leader"), it tries again for up to
   * 10 s — but only after failures that prove nothing was applied: a refused or unreachable
   * connection, or a 503 the server gave without acting. A timeout or a reset is not retried.
   */
  private async call(method: string, path: string, body?: unknown) {
    const deadline = Date.now() + RETRY_MS;
    for (;;) {
      const failures: string[] = [];
      let safeToRetry = true;
      for (const server of this.target.discoverd) {
        try {
          const answer = await request(method, `${server}${path}`, {
            clusterKey: this.target.clusterKey,
            body,
          });
          if (answer.status === 503 && Date.now() < deadline) {
            failures.push(`${server} answered 503`);
            continue;
          }
          return answer;
        } catch (err) {
          if (!(err instanceof NetworkError)) throw err;
          failures.push(err.message);
          if (!/ECONNREFUSED|EHOSTUNREACH|ENETUNREACH/.test(err.message)) safeToRetry = false;
        }
      }
      if (!safeToRetry || Date.now() >= deadline) {
        throw new CliError(`no discoverd server answered: ${failures.join('; ')}`);
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  }

  private async json<T>(method: string, path: string, body?: unknown): Promise<T | null> {
    const answer = await this.call(method, path, body);
    if (answer.status === 404 && method === 'GET') return null;
    if (answer.status < 200 || answer.status >= 300) throw answerError(method, answer);
    return JSON.parse(answer.text) as T;
  }

  get(key: string): Promise<StoreEntry | null> {
    return this.json<StoreEntry>('GET', kvPath(key));
  }

  async list(prefix: string): Promise<{ revision: number; entries: StoreEntry[] }> {
    const res = await this.json<{ revision: number; entries: StoreEntry[] }>(
      'GET',
      `/kv/?prefix=${encodeURIComponent(prefix)}`,
    );
    return res ?? { revision: 0, entries: [] };
  }

  async txn(req: Parameters<StoreKv['txn']>[0]): Promise<{ succeeded: boolean; revision: number }> {
    const res = await this.json<{ succeeded: boolean; revision: number }>('POST', '/kv/txn', req);
    if (!res) throw new CliError('POST /kv/txn answered nothing');
    return res;
  }
}
