// The simulator's seeded randomness comes from lincheck's generator, so that histories and
// faults are reproducible from one seed.
export { createRng, type Rng } from '@flynn-edge/lincheck';
