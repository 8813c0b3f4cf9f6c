export * from './local-cluster.js';
export * from './local-host.js';
