import type { Command } from 'commander';

// `flynn-host version` (issue 14): registered by buildProgram; the command's code is imported when it runs.

export function registerVersionCommand(_program: Command): void {}
