export { type Figure8Result, runFigure8 } from './figure8.js';
export {
  decodeKvCommand,
  encodeKvCommand,
  type KvCommand,
  type KvResult,
  KvStateMachine,
} from './kv-state.js';
export { createRng, type Rng } from './rng.js';
export { runSimulation, SIM_BUGS, type SimBug, type SimOptions, type SimSummary } from './simulator.js';
export type { SimStats } from './stats.js';
