// For other operator tools: the discoverd HTTP helpers and the Raft view.
export * from './commands/raft.js';
export * from './discoverd-http.js';
export { CliError } from './output.js';
