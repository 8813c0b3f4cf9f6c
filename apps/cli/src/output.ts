// Everything flynn-host prints: tables and JSON on stdout, notes and errors on stderr (one line,
// prefixed with the program name, never a stack trace), and the DISCOVERD_PEERS reminders.

export const PROG = 'flynn-host';

/** An error meant for the operator: its message is printed as it is, then the process exits. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export function println(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** A side remark on stderr, so stdout stays parseable. */
export function note(line: string): void {
  process.stderr.write(`${PROG}: ${line}\n`);
}

export function printError(message: string): void {
  // One line: a server message with newlines must not look like several errors.
  process.stderr.write(`${PROG}: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
}

export function printJson(value: unknown): void {
  println(JSON.stringify(value, null, 2));
}

/**
 * Left-aligned columns separated by at least `padding` spaces, as Go's tabwriter lays them out
 * (flynn-host pads with 3, flynn with 2).
 */
export function formatTable(header: string[], rows: string[][], padding = 3): string {
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  return all
    .map((r) =>
      r
        .map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c] + padding)))
        .join('')
        .trimEnd(),
    )
    .join('\n');
}

export function promoteReminder(addr: string): string {
  return `Remember to add ${addr} to DISCOVERD_PEERS so the change survives redeploys.`;
}

export function demoteReminder(addr: string): string {
  return `Remember to remove ${addr} from DISCOVERD_PEERS so the change survives redeploys.`;
}
