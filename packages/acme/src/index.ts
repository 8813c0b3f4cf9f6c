export * from './account.js';
export * from './challenges.js';
export * from './election.js';
export * from './http.js';
export * from './issuer.js';
export * from './metrics.js';
export * from './order.js';
export * from './plan.js';
