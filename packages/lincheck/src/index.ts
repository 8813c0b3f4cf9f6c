export { checkHistory } from './check.js';
export { type SimulateOptions, simulateHistory } from './generate.js';
export { registerStep } from './model.js';
export { createRng, type Rng } from './rng.js';
export type { CheckOptions, CheckResult, Operation, OpKind } from './types.js';
