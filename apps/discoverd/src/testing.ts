// Harnesses for tests, demos and benchmarks (`@flynn-edge/discoverd/testing`): a single-node
// discoverd inside the calling process, and clusters of real discoverd processes. Kept out of the
// package's main entry so that nothing that runs discoverd loads them.
export * from './in-process.js';
export * from './process-cluster.js';
