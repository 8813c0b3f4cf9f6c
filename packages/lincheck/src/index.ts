export { checkHistory } from './check.js';
export { registerStep } from './model.js';
export type { CheckOptions, CheckResult, Operation, OpKind } from './types.js';
