export * from './api.js';
export * from './daemon.js';
export * from './driver.js';
export * from './exec.js';
export * from './manager.js';
export * from './parse.js';
export * from './pool.js';
export * from './readiness.js';
