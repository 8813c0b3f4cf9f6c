import { connect } from 'node:net';
import { HostApiError } from '../../host-api.js';
import type { OnlineHost, State, Step } from '../state.js';

// resource-check: each host test-binds the ports Flynn's services need (POST
// /host/resource-check); a conflict names the host and its ports.

export interface PortSpec {
  port: number;
  proto?: string;
}

/** A host without the resource-check API (older daemon): is anything listening there? */
function listening(ip: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: ip, port, timeout: 1000 });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(false));
  });
}

async function conflictsOf(state: State, host: OnlineHost, ports: PortSpec[]): Promise<PortSpec[]> {
  try {
    await state.api.request(host.addr, 'POST', '/host/resource-check', { ports });
    return [];
  } catch (err) {
    if (!(err instanceof HostApiError)) throw err;
    if (err.status === 409) {
      const detail = (err.body as { detail?: { ports?: PortSpec[] } } | undefined)?.detail;
      return detail?.ports ?? ports;
    }
    if (err.status !== 404 && err.status !== 405) throw err;
    const held = await Promise.all(ports.map((p) => listening(host.ip, p.port)));
    return ports.filter((_p, i) => held[i]);
  }
}

export async function resourceCheck(step: Step, state: State): Promise<void> {
  const ports = ((step.ports as PortSpec[] | undefined) ?? []).map((p) => ({
    port: p.port,
    proto: p.proto ?? 'tcp',
  }));
  const found = await Promise.all(
    state.hosts.map(async (h) => [h, await conflictsOf(state, h, ports)] as const),
  );
  const bad = found.filter(([, c]) => c.length > 0);
  if (bad.length === 0) return;
  const lines = bad.map(([h, c]) => `${h.ip}: ${c.map((p) => `${p.proto ?? 'tcp'}:${p.port} `).join('')}`);
  throw new Error(
    `conflicts detected!\n\nThe following hosts have conflicting services listening on ports Flynn is configured to use:\n${lines.join('\n')}\n\nAfter you correct the above errors re-run bootstrap to continue setting up Flynn.`,
  );
}
