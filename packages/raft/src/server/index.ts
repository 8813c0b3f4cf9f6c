export * from './errors.js';
export * from './kv-node.js';
export * from './kv-protocol.js';
export * from './raft-server.js';
