export { type Figure8Result, runFigure8 } from './figure8.js';
export { createRng, type Rng } from './rng.js';
export { runSimulation, SIM_BUGS, type SimBug, type SimOptions, type SimSummary } from './simulator.js';
export type { SimStats } from './stats.js';
