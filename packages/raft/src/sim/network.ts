import type { Message, NodeId } from '../core/types.js';
import type { EventQueue } from './event-queue.js';
import type { Rng } from './rng.js';
import type { SimStats } from './stats.js';

// The simulated network: per-message random loss, duplication and delay (long delays reorder),
// plus directed link cuts for partitions. Delivery to a crashed or paused node is the node's
// concern, not the network's.

export interface NetworkRates {
  drop: number;
  duplicate: number;
  /** Share of messages delayed long enough to overtake or be overtaken. */
  delaySpike: number;
}

export class SimNetwork {
  rates: NetworkRates = { drop: 0.01, duplicate: 0.01, delaySpike: 0.03 };
  private readonly cut = new Set<string>();
  private readonly lastDelivery = new Map<string, number>();

  constructor(
    private readonly rng: Rng,
    private readonly queue: EventQueue,
    private readonly stats: SimStats,
    private readonly deliver: (m: Message) => void,
  ) {}

  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}>${to}`);
  }

  isolate(node: NodeId, others: NodeId[]): void {
    for (const o of others) {
      if (o === node) continue;
      this.cutLink(node, o);
      this.cutLink(o, node);
    }
  }

  healAll(): void {
    this.cut.clear();
  }

  get hasCuts(): boolean {
    return this.cut.size > 0;
  }

  send(m: Message): void {
    const link = `${m.from}>${m.to}`;
    if (this.cut.has(link)) {
      this.stats.dropped++;
      return;
    }
    if (this.rng.next() < this.rates.drop) {
      this.stats.dropped++;
      return;
    }
    this.schedule(link, m);
    if (this.rng.next() < this.rates.duplicate) {
      this.stats.duplicated++;
      this.schedule(link, m);
    }
  }

  private schedule(link: string, m: Message): void {
    let delay = 0.2 + this.rng.next() * 1.8;
    if (this.rng.next() < this.rates.delaySpike) delay += 5 + this.rng.next() * 40;
    const at = this.queue.now + delay;
    const last = this.lastDelivery.get(link) ?? 0;
    if (at < last) this.stats.reordered++;
    else this.lastDelivery.set(link, at);
    this.queue.at(at, () => {
      // A partition also swallows what was already on the wire.
      if (this.cut.has(link)) {
        this.stats.dropped++;
        return;
      }
      this.stats.delivered++;
      this.deliver(m);
    });
  }
}
