// Test-only helpers (iptables, network namespaces, Chromium, tool checks, an SSE reader). No file
// under any src/ may import this package; runtime code uses @flynn-edge/process-kit, re-exported
// here so that a test needs one import.
export * from '@flynn-edge/process-kit';
export * from './chromium.js';
export * from './http.js';
export * from './http-mutator.js';
export * from './iptables.js';
export * from './net-cluster.js';
export * from './netns.js';
export * from './require-command.js';
export * from './sse-reader.js';
