import type { Event } from '@flynn-edge/discoverd-state';
import type { Backend as ProxyBackend } from '@flynn-edge/router-proxy';

export type { Logger } from '@flynn-edge/router-proxy';

export interface Backend extends ProxyBackend {
  service: string;
}

export interface BackendListener {
  up?(backend: Backend): void;
  down?(backend: Backend): void;
}

/** One open service watch. discoverd-client's `Watch` is one. */
export interface ServiceWatch {
  /** Resolves once the watch has stopped: closed, or given up (then with the error). */
  readonly done: Promise<Error | undefined>;
  close(): void;
}

/**
 * Opens service watches (spec §1.8: up/update/down/leader, then `current` once the initial burst
 * is over). `DiscoverdClient` is one; unit tests drive a fake.
 */
export interface WatchSource {
  watch(service: string, opts: { onEvent: (event: Event) => void }): ServiceWatch;
}
