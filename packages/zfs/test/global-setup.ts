import { startZfsForTests } from './zfs-fuse.js';

// Runs once for the whole package: zfs-fuse is one daemon per machine, shared by every test file.
export default async function setup(): Promise<() => Promise<void>> {
  const env = await startZfsForTests();
  if (!env.available) process.stderr.write(`skipping ZFS tests: ${env.message}\n`);
  return async () => {
    // Stops the daemon only if we started it and no pool (ours or anyone's) is left on it.
    await env.handle?.stop();
  };
}
