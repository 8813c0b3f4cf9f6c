export * from './status-cluster.js';
