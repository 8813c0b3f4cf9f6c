export * from './status-cluster.js';
export * from './zfs-cluster.js';
