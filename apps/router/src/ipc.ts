import type { RouterConfig } from './config.js';
import type { DataPlaneStatus } from './data-plane.js';

// Messages between the cluster primary and its workers.

/** What a worker needs to serve: sent once, right after it comes online. */
export interface WorkerInit {
  config: RouterConfig;
  defaultCert: { certPem: string; keyPem: string };
  /** base64 of the ERROR_503_PAGE_URL page, fetched once by the primary. */
  errorPage?: string;
}

export type PrimaryMessage =
  | { type: 'init'; init: WorkerInit }
  | { type: 'drain'; id: number; service: string; addr: string }
  | { type: 'shutdown' };

export type WorkerMessage =
  /** Sent once the worker listens for messages (an ESM worker loads after cluster's 'online'). */
  | { type: 'hello' }
  | { type: 'ready'; status: DataPlaneStatus }
  | { type: 'status'; status: DataPlaneStatus }
  | { type: 'drained'; id: number }
  | { type: 'fatal'; message: string };
