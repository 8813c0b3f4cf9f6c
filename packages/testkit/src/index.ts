export * from './managed-process.js';
export * from './poll.js';
