import { FLYNN_EDGE_VERSION } from '@flynn-edge/service-kit';
import type { Command } from 'commander';

// `flynn-host version [--release]` and `flynn-host --version` (Flynn's host/cli/version.go): the
// installed tree's version, `<semver>[-<commit>]`; --release cuts the commit off. No cluster access.
// `flynn version` prints the same (registerFlynnVersion).

/** The release part of a version: everything before the first `-`. */
export function releaseOf(version: string): string {
  const dash = version.indexOf('-');
  return dash < 0 ? version : version.slice(0, dash);
}

function addVersionCommand(program: Command): void {
  program
    .version(FLYNN_EDGE_VERSION, '--version', 'print the version')
    .command('version')
    .description('print the version (--release: without the commit)')
    .option('--release', 'print the release version')
    .action((opts: { release?: boolean }) => {
      process.stdout.write(`${opts.release ? releaseOf(FLYNN_EDGE_VERSION) : FLYNN_EDGE_VERSION}\n`);
    });
}

export function registerVersionCommand(program: Command): void {
  addVersionCommand(program);
}

export function registerFlynnVersion(program: Command): void {
  addVersionCommand(program);
}
