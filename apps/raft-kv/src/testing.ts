// Clusters of raft-kv processes, for tests, the demo and the Raft benchmark (`@flynn-edge/raft-kv/testing`).
export * from './process-cluster.js';
