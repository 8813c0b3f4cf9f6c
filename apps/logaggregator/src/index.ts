export * from './aggregator.js';
export * from './api.js';
export * from './format.js';
export * from './ingest.js';
export * from './ring.js';
export * from './server.js';
export * from './snapshot.js';
