// The router as a child process, for tests, demos and benchmarks (`@flynn-edge/router/testing`).
export * from './process.js';
