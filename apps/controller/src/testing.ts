// The controller gateway as a child process, for tests (`@flynn-edge/controller/testing`).
export * from './process.js';
