export * from './files.js';
export { bodyCursor, type FrameChunk } from './frames.js';
export * from './scan.js';
export * from './shipper.js';
export * from './store.js';
export * from './writer.js';
