import { type Route, routeToJSON } from '@flynn-edge/router-core';

// The router's `/events` hub (spec §2.9): StreamEvents fanned out to subscribers by type. A new
// subscriber first gets the owner's snapshot (backend-up for every known backend of
// drain-tracked services), filtered by its types like everything else.

export type StreamEventType = 'set' | 'remove' | 'backend-up' | 'backend-down' | 'backend-drained';

export const STREAM_EVENT_TYPES: readonly StreamEventType[] = [
  'set',
  'remove',
  'backend-up',
  'backend-down',
  'backend-drained',
];

export interface Backend {
  service: string;
  addr: string;
  app?: string;
  job_id?: string;
}

export interface StreamEvent {
  event: StreamEventType;
  route?: Route;
  backend?: Backend;
  error?: string;
}

/** Flynn's StreamEvent JSON: event, then route/backend/error when present (omitempty). */
export function streamEventToJSON(ev: StreamEvent): Record<string, unknown> {
  const out: Record<string, unknown> = { event: ev.event };
  if (ev.route) out.route = routeToJSON(ev.route);
  if (ev.backend) {
    const b: Record<string, unknown> = { service: ev.backend.service, addr: ev.backend.addr };
    if (ev.backend.app) b.app = ev.backend.app;
    if (ev.backend.job_id) b.job_id = ev.backend.job_id;
    out.backend = b;
  }
  if (ev.error) out.error = ev.error;
  return out;
}

interface Subscriber {
  types: ReadonlySet<string>;
  send: (ev: StreamEvent) => void;
}

export class RouterEvents {
  private readonly subs = new Set<Subscriber>();

  /** @param snapshot the backend-up events a new subscriber receives first. */
  constructor(private readonly snapshot: () => StreamEvent[] = () => []) {}

  get subscribers(): number {
    return this.subs.size;
  }

  emit(ev: StreamEvent): void {
    for (const s of [...this.subs]) if (s.types.has(ev.event)) s.send(ev);
  }

  /** Subscribes to the listed types (none listed: nothing is sent, as in Flynn). */
  subscribe(types: ReadonlySet<string>, send: (ev: StreamEvent) => void): () => void {
    const sub: Subscriber = { types, send };
    for (const ev of this.snapshot()) if (types.has(ev.event)) send(ev);
    this.subs.add(sub);
    return () => {
      this.subs.delete(sub);
    };
  }
}
