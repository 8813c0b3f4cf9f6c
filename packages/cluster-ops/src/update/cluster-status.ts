import type { DiscoverdClient } from '@flynn-edge/discoverd-client';
import { statusCheck } from '../bootstrap/actions/wait.js';
import type { State } from '../bootstrap/state.js';
import { UpdateError } from './versions.js';

// Step 2: the status service (found through discoverd) must say healthy, as bootstrap's
// status-check step asks it; its "unhealthy services detected!" answer becomes one line.

const UNHEALTHY_HEAD = /^unhealthy services detected!\s*/;

export async function requireHealthy(
  discoverd: DiscoverdClient,
  timeoutMs: number,
  url = 'http://status-web.discoverd',
): Promise<void> {
  // status-check reads only the discoverd client and stepData of a bootstrap state.
  const state = { discoverd, stepData: {} } as unknown as State;
  try {
    await statusCheck({ id: 'status-check', action: 'status-check', url, timeout: timeoutMs / 1000 }, state);
  } catch (err) {
    const components = (err as Error).message
      .replace(UNHEALTHY_HEAD, '')
      .split('\n')
      .filter(Boolean)
      .join(', ');
    throw new UpdateError(`cluster is unhealthy: ${components}`);
  }
}
