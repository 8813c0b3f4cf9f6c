import { spawnSync } from 'node:child_process';

// Tests that need a Debian package (zfs-fuse, dig, prometheus, chromium, …) ask for it here. On a
// developer's machine a missing tool skips those tests with a message saying what to install;
// under CI (CI=true) a missing tool is a failure, never a silent skip, because .ci/run installs them.

export interface ToolCheck {
  available: boolean;
  /** What to tell the developer when it is missing. */
  message: string;
}

export function requireCommand(
  command: string,
  debianPackage: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): ToolCheck {
  const found =
    spawnSync('sh', ['-c', `command -v ${JSON.stringify(command)}`], { encoding: 'utf8' }).status === 0;
  const message = `${command} not found: install it with \`apt-get install ${debianPackage}\` (or run bash .ci/run)`;
  if (!found && env.CI === 'true') throw new Error(`CI=true and ${message}`);
  if (!found) process.stderr.write(`skipping tests: ${message}\n`);
  return { available: found, message };
}
