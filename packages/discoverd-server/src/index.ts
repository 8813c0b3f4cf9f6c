export * from './context.js';
export * from './event-hub.js';
export * from './heartbeats.js';
export * from './port-mux.js';
export * from './redirect.js';
export * from './server.js';
