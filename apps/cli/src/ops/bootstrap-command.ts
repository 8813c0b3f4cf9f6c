import type { Command } from 'commander';

// `flynn-host bootstrap` (issue 14): registered by buildProgram; the command's code is imported when it runs.

export function registerBootstrapCommand(_program: Command): void {}
