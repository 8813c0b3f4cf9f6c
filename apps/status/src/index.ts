export { flagSpec, list, parseListenAddr } from './flags.js';
export * from './process.js';
export * from './server.js';
