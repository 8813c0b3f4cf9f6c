import type { Operation } from '@flynn-edge/lincheck';
import type { NodeId } from '../core/types.js';
import type { EventQueue } from './event-queue.js';
import type { Rng } from './rng.js';
import type { ClientReply, ClientRequest, SimNode } from './sim-node.js';

// Simulated clients: each runs one operation at a time against the node it believes leads,
// follows leader hints, retries an attempt that was definitely not executed, and gives up after a
// timeout, recording the call without a reply (it may or may not have taken effect).

export interface AckedWrite {
  index?: number;
  key: string;
  value: string;
}

export interface ClientOptions {
  queue: EventQueue;
  rng: Rng;
  nodes: Map<NodeId, SimNode>;
  keys: string[];
  timeoutMs: number;
  history: Operation[];
}

const LINK_MS = 0.3;

export class SimClient {
  private target: NodeId;
  private opCount = 0;
  private attempt = 0;
  idle = true;

  constructor(
    readonly id: number,
    private readonly opts: ClientOptions,
  ) {
    const ids = [...opts.nodes.keys()];
    this.target = ids[opts.rng.int(ids.length)];
  }

  /** Runs one operation; `done` fires once it has a reply, was abandoned, or definitely failed. */
  run(done: () => void, forced?: ClientRequest): void {
    const { rng, keys, queue } = this.opts;
    const key = keys[rng.int(keys.length)];
    const n = ++this.opCount;
    const value = `c${this.id}-${n}`;
    const roll = rng.next();
    const req: ClientRequest =
      forced ??
      (roll < 0.5
        ? { kind: 'read', key }
        : roll < 0.8
          ? { kind: 'write', key, value }
          : {
              kind: 'cas',
              key,
              expected: rng.next() < 0.5 ? null : `c${rng.int(10)}-${rng.int(n + 1)}`,
              value,
            });
    const call = queue.now;
    const deadline = call + this.opts.timeoutMs;
    this.idle = false;
    let finished = false;
    const finish = (op: Operation | null) => {
      if (finished) return;
      finished = true;
      this.attempt++;
      if (op) this.opts.history.push(op);
      this.idle = true;
      done();
    };
    const op = (): Operation => ({
      clientId: this.id,
      key: req.key,
      kind: req.kind,
      input:
        req.kind === 'read'
          ? {}
          : req.kind === 'write'
            ? { value: req.value }
            : { value: req.value, expected: req.expected },
      call,
    });
    const tryOnce = () => {
      if (finished) return;
      const attempt = ++this.attempt;
      const node = this.opts.nodes.get(this.target)!;
      queue.after(LINK_MS, () =>
        node.request(req, (reply: ClientReply) =>
          queue.after(LINK_MS, () => {
            if (finished || attempt !== this.attempt) return;
            if (reply.status === 'ok') {
              const o = op();
              o.ret = queue.now;
              o.output =
                req.kind === 'read'
                  ? { value: reply.value ?? null }
                  : req.kind === 'cas'
                    ? { ok: reply.ok }
                    : {};
              finish(o);
              return;
            }
            // Definitely not executed: follow the hint or try another node.
            const ids = [...this.opts.nodes.keys()];
            this.target =
              reply.leader && reply.leader !== this.target ? reply.leader : ids[rng.int(ids.length)];
            if (queue.now + 5 >= deadline) finish(null);
            else queue.after(2 + rng.next() * 8, tryOnce);
          }),
        ),
      );
    };
    queue.at(deadline, () => {
      if (finished) return;
      // No answer in time: the outcome is unknown, so the call stays in the history without a reply.
      const ids = [...this.opts.nodes.keys()];
      this.target = ids[rng.int(ids.length)];
      finish(op());
    });
    tryOnce();
  }
}
