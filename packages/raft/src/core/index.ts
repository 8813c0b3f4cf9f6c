export * from './confchange.js';
export { RaftLog } from './log.js';
export { Inflights, Progress } from './progress.js';
export { committedIndex, majority, tallyVotes } from './quorum.js';
export * from './raft.js';
export type { ReadState } from './read-only.js';
export * from './types.js';
