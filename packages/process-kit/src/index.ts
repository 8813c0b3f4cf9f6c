export * from './managed-process.js';
export * from './poll.js';
export * from './ports.js';
export * from './run-demo.js';
