import type { Command } from 'commander';

// `flynn-host init` (issue 14): registered by buildProgram; the command's code is imported when it runs.

export function registerInitCommand(_program: Command): void {}
