export * from './config.js';
export * from './daemon.js';
export * from './host-config.js';
export * from './main.js';
export * from './omni-reconciler.js';
