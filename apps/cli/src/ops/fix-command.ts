import type { Command } from 'commander';

// `flynn-host fix` (issue 14): registered by buildProgram; the command's code is imported when it runs.

export function registerFixCommand(_program: Command): void {}
