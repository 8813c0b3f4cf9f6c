export { flagSpec, list, parseListenAddr } from './flags.js';
export * from './server.js';
