import {
  createLogger,
  defineFlags,
  installSignalHandlers,
  onShutdown,
  parseFlagsOrExit,
  runMain,
} from '@flynn-edge/service-kit';
import { KvNode } from './kv-node.js';

// raft-kv: one member of a Raft-replicated key-value store. Thin wiring: flags, logging and
// signals here; the node is kv-node.ts, Raft is packages/raft.

const spec = defineFlags({
  addr: {
    type: 'string',
    default: '127.0.0.1:7001',
    usage: 'advertised host:port: Raft and the KV protocol share it',
  },
  'data-dir': { type: 'string', default: './data', usage: 'where the write-ahead log and snapshots live' },
  peers: { type: 'string', default: '', usage: 'comma-separated voters of a new cluster (first boot only)' },
  join: { type: 'boolean', usage: 'start empty and wait to be added by the leader' },
  'tick-interval': { type: 'duration', default: '100ms', usage: 'Raft tick' },
  'election-ticks': { type: 'int', default: 10, usage: 'ticks without a leader before campaigning' },
  'snapshot-every': { type: 'int', default: 8192, usage: 'applied entries between snapshots' },
});

runMain(async () => {
  const { flags } = parseFlagsOrExit(spec, process.argv.slice(2), process.env, { prog: 'raft-kv' });
  const log = createLogger({ component: 'raft-kv', host: flags.addr });
  const peers = flags.peers
    ? flags.peers
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean)
    : [];
  const node = await KvNode.start({
    id: flags.addr,
    dataDir: flags.dataDir,
    peers,
    join: flags.join,
    tickMs: flags.tickInterval,
    electionTicks: flags.electionTicks,
    snapshotEvery: flags.snapshotEvery,
    logger: log,
  });
  node.raft.on('leader', (leader, term) => log.info({ leader, term }, 'leader changed'));
  node.raft.on('fatal', (err) => {
    log.fatal({ err: err.message }, 'stopping after a storage failure');
    process.exit(1);
  });
  log.info({ addr: flags.addr, dataDir: flags.dataDir, peers }, 'raft-kv started');
  onShutdown(() => node.stop(), { name: 'raft' });
  installSignalHandlers();
});
