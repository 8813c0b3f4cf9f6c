import type { DiscoverdClient, Heartbeater, LeaderWatch } from '@flynn-edge/discoverd-client';

// One issuer across the cluster: every router registers in the `router-acme` service and acts
// only while discoverd names its instance the leader (the oldest registration). When the leader's
// registration expires (its router died), discoverd names the next one.

export const ISSUER_SERVICE = 'router-acme';
const RESTART_DELAY_MS = 2000;

export interface ElectionOptions {
  client: DiscoverdClient;
  /** This router's address in the service (unique per router: its API address). */
  addr: string;
  service?: string;
  onChange?: (leader: boolean) => void;
  onError?: (err: Error) => void;
}

export class IssuerElection {
  private hb: Heartbeater | undefined;
  private watch: LeaderWatch | undefined;
  private leading = false;
  private closed = false;

  constructor(private readonly opts: ElectionOptions) {}

  get isLeader(): boolean {
    return this.leading;
  }

  /** This router's instance id (after start). */
  get id(): string | undefined {
    return this.hb?.id;
  }

  async start(): Promise<void> {
    const service = this.opts.service ?? ISSUER_SERVICE;
    this.hb = await this.opts.client.addServiceAndRegister(service, this.opts.addr, {
      onError: this.opts.onError,
    });
    if (this.closed) {
      await this.hb.close();
      return;
    }
    this.follow(service);
  }

  private follow(service: string): void {
    const w = this.opts.client.leaderWatch(service, {
      onLeader: (leader) => this.set(leader !== null && leader.id === this.hb?.id),
    });
    this.watch = w;
    void w.watch.done.then((err) => {
      // A watch that gave up must not leave a stale "leader" behind: step down, watch again.
      this.set(false);
      if (this.closed) return;
      if (err) this.opts.onError?.(err);
      setTimeout(() => {
        if (!this.closed) this.follow(service);
      }, RESTART_DELAY_MS).unref();
    });
  }

  private set(leader: boolean): void {
    if (leader === this.leading) return;
    this.leading = leader;
    this.opts.onChange?.(leader);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watch?.close();
    this.set(false);
    await this.hb?.close();
  }
}
