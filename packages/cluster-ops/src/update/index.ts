export { requireHealthy } from './cluster-status.js';
export type { DaemonState, UpdateHost } from './host-calls.js';
export { openRelease, type ReleaseFile, readTarball } from './release-file.js';
export { runUpdate, type UpdateOptions, type UpdateResult } from './run.js';
export { appIsCurrent, SYSTEM_APPS, UPDATED_FOR } from './system-apps.js';
export { compareReleases, type HostVersion, incompatibleText, planHosts, UpdateError } from './versions.js';
