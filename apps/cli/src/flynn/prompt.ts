import { createInterface } from 'node:readline';

// Flynn's confirmation prompts and its log lines (stderr, no prefix).

export function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** `question (yes/no): `; only "yes" (or "y") confirms; end of input is a no. */
export async function confirm(question: string): Promise<boolean> {
  process.stderr.write(`${question} (yes/no): `);
  const rl = createInterface({ input: process.stdin });
  try {
    for await (const line of rl) return /^(y|yes)$/i.test(line.trim());
    return false;
  } finally {
    rl.close();
  }
}
