// The CLI's entry to the masking rule (`@flynn-edge/host/secrets`), without loading the daemon.
export * from '@flynn-edge/host-jobs/secrets';
