export type { SnapshotMarker } from './codec.js';
export { DirLockedError, LOCK_FILE } from './dir-lock.js';
export { DurableWritePolicy, type DurableWritePolicyOptions } from './durable-write-policy.js';
export { StorageClosedError, StorageCorruptionError } from './errors.js';
export type { DiskState, FileStorageOptions, StorageStats } from './file-storage.js';
export { FileStorage } from './file-storage.js';
export type { StorageFaults } from './io.js';
