export * from './config.js';
export * from './daemon.js';
export * from './local-cluster.js';
export * from './local-host.js';
export * from './main.js';
