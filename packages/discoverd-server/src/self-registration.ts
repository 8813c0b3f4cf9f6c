import {
  buildInstance,
  DiscoverdClient,
  Heartbeater,
  type HeartbeatTransport,
  isObjectExists,
} from '@flynn-edge/discoverd-client';
import { metricsMeta } from '@flynn-edge/service-kit';

// discoverd registers itself as service `discoverd` (spec §1.1) through its own HTTP API, with
// the client's heartbeater (every 3–5 s, 200–400 ms after a failure), once it is a member and a
// leader exists. A proxy is no member: its beats send nothing. On close nothing is unregistered:
// the instance expires with its TTL, as Flynn's did.

export const SELF_SERVICE = 'discoverd';

/** Where this node stands: `proxy` skips a beat, `no-leader` fails it (retried soon). */
export type SelfRegistrationState = 'proxy' | 'no-leader' | 'ready';

export interface SelfRegistrationOptions {
  /** host:port of this node's HTTP API: the instance's addr. */
  advertised: string;
  /** The flynn-host id (meta of the instance). */
  hostId?: string;
  state(): SelfRegistrationState;
  /** Whether service `discoverd` exists (else it is created first). */
  hasService(): boolean;
  /** A failed registration (it is retried). */
  onError(err: Error): void;
}

export class SelfRegistration {
  private hb: Heartbeater | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly client: DiscoverdClient;
  private readonly transport: HeartbeatTransport;

  constructor(private readonly opts: SelfRegistrationOptions) {
    // One attempt per beat (the heartbeater retries); a follower's 307 leads to the leader.
    this.client = new DiscoverdClient({
      servers: [`http://${opts.advertised}`],
      followPeers: false,
      retryDeadlineMs: 0,
      env: {},
    });
    this.transport = {
      put: async (service, inst, signal) => {
        const state = opts.state();
        if (state === 'proxy') return;
        if (state === 'no-leader') throw new Error('discoverd: no Raft leader yet');
        if (!opts.hasService()) await this.client.addService(service).catch(ignoreExists);
        await this.client.send('PUT', `/services/${service}/instances/${inst.id}`, { body: inst, signal });
      },
      remove: async () => {},
    };
  }

  start(): void {
    if (this.closed) return;
    // Its meta says where Prometheus scrapes it: this same port, plus the app name when discoverd
    // runs as a flynn-host job.
    const inst = buildInstance(this.opts.advertised, {
      proto: 'http',
      meta: metricsMeta(this.opts.advertised, { hostId: this.opts.hostId, env: {} }),
      env: { FLYNN_APP_NAME: process.env.FLYNN_APP_NAME },
    });
    const hb = new Heartbeater(this.transport, SELF_SERVICE, inst, { onError: this.opts.onError });
    this.hb = hb;
    // The first registration gives up after a minute (no leader that long): start over.
    hb.start().catch((err: Error) => {
      if (this.closed) return;
      this.opts.onError(err);
      this.restartTimer = setTimeout(() => this.start(), hb.nextFailureDelay());
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.restartTimer);
    await this.hb?.close();
  }
}

function ignoreExists(err: unknown): void {
  if (!isObjectExists(err)) throw err;
}
