export * from './config.js';
export * from './process.js';
