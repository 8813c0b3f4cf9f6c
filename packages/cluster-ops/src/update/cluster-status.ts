import type { DiscoverdClient } from '@flynn-edge/discoverd-client';
import { unhealthyComponents } from '../bootstrap/actions/wait.js';
import { UpdateError } from './versions.js';

// Step 2: the status service (found through discoverd) must say healthy, asked as bootstrap's
// status-check step asks it; what is not healthy becomes one line.

export async function requireHealthy(
  discoverd: DiscoverdClient,
  timeoutMs: number,
  url = 'http://status-web.discoverd',
): Promise<void> {
  const bad = await unhealthyComponents(discoverd, url, timeoutMs);
  if (bad.length > 0) throw new UpdateError(`cluster is unhealthy: ${bad.join(', ')}`);
}
