export * from './kv-client.js';
export * from './kv-node.js';
export * from './kv-protocol.js';
export * from './kv-state.js';
