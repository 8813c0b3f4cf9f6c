import { Agent, request } from 'node:http';
import { type DiscoverdClient, isNotFound } from '@flynn-edge/discoverd-client';
import type { Instance } from '@flynn-edge/discoverd-state';
import { HOST_ID_META } from '@flynn-edge/service-kit';
import type { CheckOutcome } from './envelope.js';

// What every check needs: a JSON GET bounded by the round's signal, and discoverd look-ups that
// also stop at the signal (the client's own retries would otherwise run for 10 s).

export interface ProbeOptions {
  signal: AbortSignal;
  /** Extra headers (the cluster key, when one is set). */
  headers?: Record<string, string>;
}

export class ProbeError extends Error {
  override readonly name = 'ProbeError';
}

/** Keep-alive connections to the components, shared by every round (node:http costs about half
 * of fetch's CPU per request, and rounds run beside the request path). */
export const probeAgent = new Agent({ keepAlive: true, maxSockets: 8, maxFreeSockets: 4, timeout: 30_000 });

/** Bodies larger than this are refused (a status answer is a few hundred bytes). */
export const MAX_PROBE_BODY = 1024 * 1024;

export interface ProbeResponse {
  status: number;
  text: string;
}

/** GET `url` (http only); resolves with status and body, rejects on a socket error or abort. */
export function httpGet(url: string, opts: ProbeOptions): Promise<ProbeResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { agent: probeAgent, signal: opts.signal, headers: { accept: 'application/json', ...opts.headers } },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_PROBE_BODY) {
            res.destroy(new ProbeError(`${url} answered more than ${MAX_PROBE_BODY} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** GET `url` and decode its JSON body; a non-2xx answer or a body that is not JSON throws. */
export async function getJson<T>(url: string, opts: ProbeOptions): Promise<T> {
  const res = await httpGet(url, opts);
  if (res.status < 200 || res.status > 299) throw new ProbeError(`${url} answered ${res.status}`);
  try {
    return JSON.parse(res.text) as T;
  } catch {
    throw new ProbeError(`${url} answered a body that is not JSON`);
  }
}

/** How the checks find components. */
export interface Discovery {
  /** Instances of `service`; [] when there are none. */
  instances(service: string, signal: AbortSignal): Promise<Instance[]>;
  /** Raft voters (host:port). */
  raftVoters(signal: AbortSignal): Promise<string[]>;
  /** The values under a cluster-store prefix (needs the cluster key); absent: no store access. */
  kvValues?(prefix: string): Promise<string[]>;
}

/** A Discovery over a DiscoverdClient: one pass over the servers, stopped by the signal. */
export function clientDiscovery(client: DiscoverdClient, timeoutMs = 2000): Discovery {
  const opts = (signal: AbortSignal) => ({ signal, retryDeadlineMs: 0, timeoutMs });
  return {
    async instances(service, signal) {
      try {
        return (
          (await client.send<Instance[]>(
            'GET',
            `/services/${encodeURIComponent(service)}/instances`,
            opts(signal),
          )) ?? []
        );
      } catch (err) {
        if (isNotFound(err)) return [];
        throw err;
      }
    },
    async raftVoters(signal) {
      return (await client.send<string[]>('GET', '/raft/peers', opts(signal))) ?? [];
    },
    async kvValues(prefix) {
      // Stale: the answering server's copy is fresh enough for a note refreshed every 30 s.
      return (await client.kv.listAll(prefix, { stale: true })).entries.map((e) => e.value);
    },
  };
}

/** `host:port (host id)` for reasons. */
export function describeInstance(inst: Instance): string {
  const host = inst.meta?.[HOST_ID_META] ?? inst.meta?.id;
  return host ? `${inst.addr} (${host})` : inst.addr;
}

/**
 * Probes every instance at once: healthy when all are, else the first failure, named by its
 * instance. `detail` goes into the outcome either way.
 */
export async function probeEvery(
  instances: Instance[],
  probe: (inst: Instance) => Promise<CheckOutcome>,
  detail: unknown,
): Promise<CheckOutcome> {
  const outcomes = await Promise.all(instances.map(probe));
  const bad = outcomes.findIndex((o) => !o.healthy);
  if (bad < 0) return { healthy: true, detail };
  return { healthy: false, reason: `${describeInstance(instances[bad]!)}: ${outcomes[bad]!.reason}`, detail };
}
