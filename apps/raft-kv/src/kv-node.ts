import net from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import {
  type NodeId,
  NotLeaderError,
  RAFT_PROTOCOL_BYTE,
  type RaftBug,
  RaftServer,
  type ServerLogger,
  type StorageFaults,
} from '@flynn-edge/raft';
import {
  encodeJsonFrame,
  KV_PROTOCOL_BYTE,
  type KvRequest,
  type KvResponse,
  onJsonFrames,
  splitHostPort,
} from './kv-protocol.js';
import { encodeKvCommand, type KvResult, KvStateMachine } from './kv-state.js';

// A Raft-replicated key-value node on one TCP port: the first byte of a connection picks Raft
// (0xFF) or the KV client protocol ('K'), the way discoverd shares its port between Raft and HTTP.

export interface KvNodeOptions {
  id: NodeId;
  dataDir: string;
  peers?: NodeId[];
  join?: boolean;
  tickMs?: number;
  electionTicks?: number;
  snapshotEvery?: number;
  logger?: ServerLogger;
  storageFaults?: StorageFaults;
  bugs?: ReadonlySet<RaftBug>;
}

export class KvNode {
  private readonly sockets = new Set<net.Socket>();
  /** Event-loop delay: a sync call or a long task on the loop shows here first. */
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 1 });

  private constructor(
    readonly raft: RaftServer<KvResult | null>,
    readonly kv: KvStateMachine,
    private readonly server: net.Server,
  ) {}

  static async start(opts: KvNodeOptions): Promise<KvNode> {
    const kv = new KvStateMachine();
    const raft = await RaftServer.start<KvResult | null>({
      id: opts.id,
      dataDir: opts.dataDir,
      peers: opts.peers,
      join: opts.join,
      tickMs: opts.tickMs,
      electionTicks: opts.electionTicks,
      snapshotEvery: opts.snapshotEvery,
      logger: opts.logger,
      storageFaults: opts.storageFaults,
      bugs: opts.bugs,
      stateMachine: kv,
    });
    const server = net.createServer();
    const node = new KvNode(raft, kv, server);
    node.loopDelay.enable();
    server.on('connection', (s) => node.accept(s));
    const [host, port] = splitHostPort(opts.id);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port: Number(port) }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return node;
  }

  async stop(): Promise<void> {
    this.loopDelay.disable();
    this.server.close();
    for (const s of this.sockets) s.destroy();
    await this.raft.stop();
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    socket.setNoDelay(true);
    socket.once('data', (head: Buffer) => {
      if (head[0] === RAFT_PROTOCOL_BYTE) {
        this.sockets.delete(socket);
        this.raft.acceptConnection(socket, head);
      } else if (head[0] === KV_PROTOCOL_BYTE) {
        onJsonFrames(socket, (req) => void this.handle(socket, req as KvRequest), head.subarray(1));
      } else {
        socket.destroy();
      }
    });
  }

  private async handle(socket: net.Socket, req: KvRequest): Promise<void> {
    let res: KvResponse;
    try {
      res = await this.execute(req);
    } catch (err) {
      const e = err as Error & { code?: string; leader?: string | null };
      res = {
        id: req.id,
        ok: false,
        error: e.code ?? 'unknown_error',
        message: e.message,
        leader: e instanceof NotLeaderError ? e.leader : (e.leader ?? null),
      };
    }
    if (!socket.destroyed) socket.write(encodeJsonFrame(res));
  }

  private async execute(req: KvRequest): Promise<KvResponse> {
    switch (req.op) {
      case 'get':
        await this.raft.readBarrier();
        return { id: req.id, ok: true, value: this.kv.get(req.key) };
      case 'put':
      case 'cas':
      case 'del': {
        const cmd =
          req.op === 'put'
            ? { op: 'put' as const, key: req.key, value: req.value }
            : req.op === 'cas'
              ? { op: 'cas' as const, key: req.key, expected: req.expected, value: req.value }
              : { op: 'del' as const, key: req.key };
        const r = await this.raft.propose(encodeKvCommand(cmd));
        return { id: req.id, ok: true, prev: r?.prev ?? null, succeeded: r?.ok ?? false };
      }
      case 'status': {
        // The histogram counts the 1 ms sampling interval itself: report only the delay beyond it.
        const ms = (ns: number) => Math.max(0, Math.round((ns - 1e6) / 1e4) / 100);
        const loopDelay = {
          p50: ms(this.loopDelay.percentile(50)),
          p99: ms(this.loopDelay.percentile(99)),
          max: ms(this.loopDelay.max),
        };
        if (req.resetLoopDelay) this.loopDelay.reset();
        return {
          id: req.id,
          ok: true,
          status: {
            ...this.raft.status(),
            fingerprint: this.kv.fingerprint(),
            keys: this.kv.size,
            transport: this.raft.transportStats(),
            storage: this.raft.storageStats(),
            loopDelayMs: loopDelay,
          },
        };
      }
      case 'transfer':
        if (!this.raft.isLeader) throw new NotLeaderError(this.raft.leaderId);
        if (!this.raft.transferLeadership(req.to)) {
          return {
            id: req.id,
            ok: false,
            error: 'validation_error',
            message: `${req.to} is not a voter`,
            leader: this.raft.leaderId,
          };
        }
        return { id: req.id, ok: true };
      case 'member':
        await this.raft.changeMembership({ type: req.change, node: req.node });
        return { id: req.id, ok: true };
      default:
        return {
          id: (req as { id: number }).id,
          ok: false,
          error: 'validation_error',
          message: 'unknown op',
        };
    }
  }
}
