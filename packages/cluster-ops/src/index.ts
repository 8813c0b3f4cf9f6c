export { tlsPin } from './bootstrap/actions/basic.js';
export * from './bootstrap/default-manifest.js';
export { ManifestError, parseManifest } from './bootstrap/manifest.js';
export { DEFAULT_HOST_PORT, hostAddr } from './bootstrap/online-hosts.js';
export { goClock, jsonLogger, type Logger, textLogger } from './bootstrap/output.js';
export { type BootstrapResult, checkConfig, runBootstrap, StepFailed } from './bootstrap/run.js';
export type { BootstrapConfig, OnlineHost, Step, StepInfo } from './bootstrap/state.js';
export { renderTemplate } from './bootstrap/template.js';
export * from './host-api.js';
