// The status service as a child process, for tests and benchmarks (`@flynn-edge/status-app/testing`).
export * from './process.js';
