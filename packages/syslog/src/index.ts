export * from './cursor.js';
export * from './frame.js';
export * from './message.js';
