export * from './errors.js';
export * from './flags.js';
export * from './http.js';
export * from './logger.js';
export * from './main-module.js';
export * from './metrics.js';
export * from './shutdown.js';
export * from './sse.js';
