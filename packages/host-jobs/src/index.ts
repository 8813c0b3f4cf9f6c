export * from './health.js';
export * from './manager.js';
export * from './ports.js';
export * from './procfs.js';
export * from './secrets.js';
export { Spool, type SpoolLine, type SpoolOptions } from './spool.js';
export { readJson, writeJsonAtomic } from './state.js';
export * from './types.js';
