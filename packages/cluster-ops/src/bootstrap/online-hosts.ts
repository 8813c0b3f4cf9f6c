import { type HostApi, HostApiError } from '../host-api.js';
import type { OnlineHost } from './state.js';

// Flynn's online-hosts check: every second, GET /host/status on each candidate; done when at
// least min-hosts answer, and every host that answered joins. A refused cluster key ends it at
// once: waiting will not fix it.

export const DEFAULT_HOST_PORT = 1113;

/** `ip` or `ip:port` → `ip:port` (the host API's default port). */
export function hostAddr(peer: string): string {
  return /:\d+$/.test(peer) && !peer.startsWith('[') ? peer : `${peer}:${DEFAULT_HOST_PORT}`;
}

export async function waitOnlineHosts(
  api: HostApi,
  peers: string[],
  minHosts: number,
  timeoutMs: number,
): Promise<OnlineHost[]> {
  const addrs = (peers.length > 0 ? peers : ['127.0.0.1']).map(hostAddr);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answers = await Promise.all(
      addrs.map(async (addr) => {
        try {
          const s = await api.status(addr);
          const ip = addr.replace(/:\d+$/, '');
          return { id: s.id, addr, ip } satisfies OnlineHost;
        } catch (err) {
          if (err instanceof HostApiError && err.status === 401) throw err;
          return undefined;
        }
      }),
    );
    const online = answers.filter((h): h is OnlineHost => h !== undefined);
    if (online.length >= minHosts) return online;
    if (Date.now() >= deadline) {
      const down = addrs.filter((a) => !online.some((h) => h.addr === a)).map((a) => `http://${a}`);
      throw new Error(
        `timed out waiting for ${minHosts} hosts to come online (currently ${online.length} online): ${down.join(', ')} did not answer`,
      );
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}
