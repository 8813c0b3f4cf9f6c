export * from './core/index.js';
export * from './host/raft-host.js';
export * from './server/index.js';
export * from './storage/index.js';
export * from './transport/index.js';
