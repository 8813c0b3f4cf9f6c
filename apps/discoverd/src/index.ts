export * from './in-process.js';
export * from './process-cluster.js';
