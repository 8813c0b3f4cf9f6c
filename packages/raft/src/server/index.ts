export * from './errors.js';
export * from './raft-server.js';
