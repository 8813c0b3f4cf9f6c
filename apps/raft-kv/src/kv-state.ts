// The raft-kv node replicates the simulator's key-value state machine, so the process-level tests
// and the simulator check one implementation (its own subpath: the node does not load the simulator).
export {
  decodeKvCommand,
  encodeKvCommand,
  type KvCommand,
  type KvResult,
  KvStateMachine,
} from '@flynn-edge/raft/kv-state';
