export * from './chromium.js';
export * from './iptables.js';
export * from './managed-process.js';
export * from './poll.js';
export * from './ports.js';
export * from './require-command.js';
export * from './run-demo.js';
export * from './sse-reader.js';
